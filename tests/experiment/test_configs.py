"""Every shipped experiment config parses, and every command it would run parses through the bilight CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bilight.cli import run as bilight_cli
from bilight.experiment.__main__ import main as experiment_main
from bilight.experiment.runner import RECIPES, STAGES, Experiment, StageSpec, plan, write_overlays

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = sorted((ROOT / "configs" / "experiment").glob("*.yaml"))


def _experiment(path: Path) -> Experiment:
    raw = yaml.safe_load(path.read_text())["experiment"]
    specs = {k: StageSpec(**raw.pop(k)) for k in ("sft", "diagnose", "grpo", "evaluate")}
    return Experiment(**raw, **specs)


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_every_stage_command_parses(path: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(ROOT)
    experiment = _experiment(path)
    assert set(experiment.recipes) == set(RECIPES)
    stages = plan(experiment, tmp_path)
    first = stages[: len(STAGES)] + [s for s in stages if s.name == "sft"]  # one cell's stages, and every recipe's SFT
    for stage in first:
        write_overlays(tmp_path, stage.recipe, stage.seed)
        with pytest.raises(SystemExit) as exit_info:
            bilight_cli([*stage.argv[3:], "--print_config"])
        assert exit_info.value.code == 0, stage.label
        printed = yaml.safe_load(capsys.readouterr().out)
        assert printed["trainer"]["logger"][0]["init_args"]["save_dir"] == str(tmp_path / stage.recipe / str(stage.seed))
        if stage.name == "sft":
            assert printed["data"]["injection"] == stage.recipe


def test_dry_run_prints_every_command(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(ROOT)
    experiment_main(["--config", str(ROOT / "configs" / "experiment" / "igsm_smoke.yaml"), "--output_dir", str(tmp_path), "--dry_run"])
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 6 * len(STAGES)
    assert lines[0].startswith("[vanilla/seed 0/sft]") and "configs/sft/igsm_tiny_vanilla.yaml" in lines[0]
    assert not any(tmp_path.iterdir())  # a dry run writes nothing
