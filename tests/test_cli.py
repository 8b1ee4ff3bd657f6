"""The real CLI: every shipped YAML parses, configs compose, and fit/validate/test run."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bilight.cli import run as main

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted(p for p in (ROOT / "configs").rglob("*.yaml") if p.parent.name != "experiment")  # experiment/: tests/experiment
FRAGMENT_DIRS = {"debug", "callbacks", "cluster", "tasks"}  # base/ fragments are full configs of their own
BASE = ROOT / "configs" / "sft" / "igsm_tiny_bridge.yaml"


def _full_configs(path: Path) -> list[str]:
    """A fragment is checked composed after the base SFT config."""
    args = ["--config", str(path)]
    if path.parent.name in FRAGMENT_DIRS:
        args = ["--config", str(BASE), *args]
    return args


@pytest.mark.parametrize("path", CONFIGS, ids=[str(p.relative_to(ROOT / "configs")) for p in CONFIGS])
def test_every_shipped_yaml_parses_through_the_cli(path: Path, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", *_full_configs(path), "--print_config"])
    assert exit_info.value.code == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["model"]["class_path"].startswith("bilight.modules.")
    assert "task" in printed["data"]


def test_help_lists_the_documented_options(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["fit", "--help"])
    out = capsys.readouterr().out
    assert "--data.injection" in out and "--config" in out


def test_model_help_comes_from_the_docstring(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["fit", "--model.help", "bilight.modules.SFTModule"])
    assert "any Hugging Face causal LM" in capsys.readouterr().out


def _smoke_args(tmp_path: Path) -> list[str]:
    return [
        "--config", str(BASE), "--config", str(ROOT / "configs" / "debug" / "smoke.yaml"),
        f"--trainer.default_root_dir={tmp_path}",
        "--trainer.enable_progress_bar=false",
    ]  # fmt: skip


def test_fit_validate_and_test_run_through_the_cli(tmp_path: Path) -> None:
    cli = main(["fit", *_smoke_args(tmp_path), "--trainer.enable_checkpointing=true"])
    assert cli.trainer.global_step == 2
    ckpts = list(tmp_path.rglob("*.ckpt"))
    assert ckpts
    for command in ("validate", "test"):
        result = subprocess.run(
            [sys.executable, "-m", "bilight", command, *_smoke_args(tmp_path), f"--ckpt_path={ckpts[0]}"],
            capture_output=True, text=True, timeout=300, cwd=ROOT,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr[-2000:]
        assert "acc_id" in result.stdout


def test_console_script_and_summary_files(tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("bilight")
    result = subprocess.run(
        [str(exe), "fit", "--config", str(BASE), "--config", str(ROOT / "configs" / "debug" / "smoke.yaml"),
         f"--trainer.default_root_dir={tmp_path}", "--trainer.enable_progress_bar=false",
         "--trainer.logger=lightning.pytorch.loggers.CSVLogger", f"--trainer.logger.save_dir={tmp_path}",
         "--trainer.callbacks+=bilight.callbacks.ExportHF", "--trainer.callbacks+=bilight.callbacks.FitSummary"],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads(next(tmp_path.rglob("summary.json")).read_text())
    assert summary["global_step"] == 2 and "val/acc_id" in summary
    assert 0.2 < summary["peak_rss_gb"] < 8  # the process high-water mark, in GB (imports alone take ~0.4)
    assert (Path(summary["exported_model"]) / "config.json").exists()
    assert "bilight results" in result.stdout


def _resolved(*configs: str, capsys) -> dict:
    with pytest.raises(SystemExit):
        main(["fit", *[a for c in configs for a in ("--config", str(ROOT / "configs" / c))], "--print_config"])
    return yaml.safe_load(capsys.readouterr().out)


@pytest.mark.parametrize("variant", ["vanilla", "question_aug", "answer_aug", "explore_only", "exploit_only"])
def test_sft_recipes_are_the_bridge_config_but_for_injection_and_run_folder(variant: str, capsys) -> None:
    bridge = _resolved("sft/igsm_tiny_bridge.yaml", capsys=capsys)
    other = _resolved(f"sft/igsm_tiny_{variant}.yaml", capsys=capsys)
    assert other["data"].pop("injection") == variant and bridge["data"].pop("injection") == "bridge"
    versions = {lg["init_args"]["version"] for lg in other["trainer"].pop("logger")}
    assert versions == {f"igsm_tiny_{variant}"}
    bridge["trainer"].pop("logger")
    assert other == bridge


def test_grpo_and_diagnose_share_the_sft_model_and_tasks(capsys) -> None:
    sft = _resolved("sft/igsm_tiny_bridge.yaml", capsys=capsys)
    for stage in ("grpo/igsm_tiny_bridge.yaml", "diagnose/igsm_tiny.yaml"):
        other = _resolved(stage, capsys=capsys)
        for key in ("hidden_size", "num_layers", "num_heads"):
            assert other["model"]["init_args"][key] == sft["model"]["init_args"][key]
        assert other["data"]["task"] == sft["data"]["task"] and other["data"]["ood_task"] == sft["data"]["ood_task"]


def test_grpo_takes_the_tokenizer_of_the_checkpoint_it_starts_from() -> None:
    from bilight.cli import _tokenizer_source

    assert _tokenizer_source(None, "runs/sft/x/checkpoints/last.ckpt") == "runs/sft/x/checkpoints/last.ckpt"
    assert _tokenizer_source("Qwen/Qwen2.5-0.5B", "sft.ckpt") == "Qwen/Qwen2.5-0.5B"
    assert _tokenizer_source(None, None) is None


@pytest.mark.parametrize("injection", ["bridge:reference", "{explore_p: 0.1, detailed: true, style: reference}"])
def test_reference_wording_is_selectable_from_yaml(injection: str, capsys) -> None:
    args = ["--data.task.init_args.style", "reference", "--data.injection", injection, "--print_config"]
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--config", str(BASE), *args])
    assert exit_info.value.code == 0
    data = yaml.safe_load(capsys.readouterr().out)["data"]
    assert data["task"]["init_args"]["style"] == "reference"
    assert data["injection"] == "bridge:reference" or data["injection"]["style"] == "reference"
