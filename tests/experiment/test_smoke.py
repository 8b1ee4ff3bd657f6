"""The experiment end to end on the smoke config: every recipe through SFT -> diagnosis -> GRPO -> evaluation, and a run
killed at a random moment that, run again with the same command, gives the results of an uninterrupted run."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "configs" / "experiment" / "igsm_smoke.yaml"


def _command(out: Path, results: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "bilight.experiment", "--config", str(CONFIG), "--output_dir", str(out),
            "--experiment.results_dir", str(results), *extra]  # fmt: skip


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}


@pytest.mark.slow
def test_smoke_experiment_runs_every_recipe_and_writes_results(tmp_path) -> None:
    done = subprocess.run(_command(tmp_path / "out", tmp_path / "res"), cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "[30/30] bridge/seed 0/eval_grpo" in done.stdout and "bilight fit --config configs/sft/igsm_tiny_vanilla.yaml" in done.stdout
    root = tmp_path / "res" / "igsm_smoke"
    summary = json.loads((root / "results.json").read_text())
    assert sorted(summary["recipes"]) == sorted(["vanilla", "question_aug", "answer_aug", "explore_only", "exploit_only", "bridge"])
    assert summary["missing"] == [] and summary["k"] == 4
    cell = json.loads((root / "bridge" / "0" / "cell.json").read_text())
    assert cell["sft"]["test"]["n"] == 16 and cell["sft"]["test_ood"]["n"] == 8 and len(cell["reward_curve"]) == 2
    assert (root / "bridge" / "0" / "eval_grpo.jsonl").exists() and (root / "figures" / "gain_bars.png").exists()
    assert "BRIDGE's RL gain" in (root / "results.md").read_text()
    again = subprocess.run(_command(tmp_path / "out", tmp_path / "res"), cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=600)
    assert "30 already finished" in again.stdout and "] /" not in again.stdout  # nothing re-run


@pytest.mark.slow
def test_a_killed_experiment_resumes_to_the_uninterrupted_results(tmp_path) -> None:
    two = ("--experiment.recipes", "[vanilla, bridge]")
    started = time.monotonic()
    whole = subprocess.run(_command(tmp_path / "a", tmp_path / "ra", *two), cwd=ROOT, env=_env(), capture_output=True, timeout=1800)
    assert whole.returncode == 0, whole.stderr[-3000:]
    duration = time.monotonic() - started
    proc = subprocess.Popen(
        _command(tmp_path / "b", tmp_path / "rb", *two), cwd=ROOT, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    time.sleep(random.Random().uniform(0.1, 0.7) * duration)  # a random moment inside the run
    assert proc.poll() is None, "the run ended before it could be killed"
    proc.send_signal(signal.SIGKILL)  # the stage it was running dies with it (PR_SET_PDEATHSIG)
    proc.wait()
    resumed = subprocess.run(_command(tmp_path / "b", tmp_path / "rb", *two), cwd=ROOT, env=_env(), capture_output=True, timeout=1800)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    first = json.loads((tmp_path / "ra" / "igsm_smoke" / "results.json").read_text())
    second = json.loads((tmp_path / "rb" / "igsm_smoke" / "results.json").read_text())
    assert json.dumps(first, sort_keys=True) == json.dumps(second, sort_keys=True)
