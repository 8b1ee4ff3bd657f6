"""Run ``python -m bilight fit`` in a folder, kill it on cue, and read back what it left."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
BASE = ROOT / "configs" / "sft" / "igsm_tiny_bridge.yaml"
SFT_TINY = Path(__file__).with_name("sft_tiny.yaml")
DDP_CPU = ROOT / "configs" / "cluster" / "ddp_cpu.yaml"


def env(**extra: str) -> dict[str, str]:
    out = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT), "TOKENIZERS_PARALLELISM": "false"}
    for key in ("BILIGHT_TEST_KILL_AT", "BILIGHT_TEST_KILL_RANK", "BILIGHT_KILL_DURING_SAVE"):
        out.pop(key, None)
    out.update(extra)
    return out


def fit(
    run_dir: Path, *args: str, base: bool = True, resume: bool = False, expect_kill: bool = False, **env_extra: str
) -> subprocess.CompletedProcess:
    """One ``bilight fit`` in ``run_dir`` (its ``runs/`` folder), on the tiny SFT configs unless ``base=False``."""
    run_dir.mkdir(parents=True, exist_ok=True)
    configs = ["--config", str(BASE), "--config", str(SFT_TINY)] if base else []
    cmd = [sys.executable, "-m", "bilight", "fit", *configs, *args]
    if resume:
        cmd.append("--ckpt_path=last")
    result = subprocess.run(cmd, cwd=run_dir, env=env(**env_extra), capture_output=True, text=True, timeout=600)
    if expect_kill:
        assert result.returncode == -signal.SIGKILL, f"expected a SIGKILL, got {result.returncode}:\n{result.stderr[-3000:]}"
    else:
        assert result.returncode == 0, result.stderr[-3000:]
    return result


def run_folder(run_dir: Path, name: str = "sft", version: str = "tiny") -> Path:
    return run_dir / "runs" / name / version


def losses(run_dir: Path, key: str = "train/loss", name: str = "sft") -> list[tuple[int, float]]:
    """(step, loss) rows of metrics.csv in file order."""
    with open(run_folder(run_dir, name) / "metrics.csv", newline="") as f:
        return [(int(row["step"]), float(row[key])) for row in csv.DictReader(f) if row.get(key)]


def final_state(run_dir: Path, name: str = "sft") -> dict:
    return torch.load(run_folder(run_dir, name) / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)


def max_abs_diff(a: dict, b: dict) -> float:
    """Largest difference between two checkpoints' weights and optimizer moments (0.0 means bitwise equal)."""
    diffs = [float((a["state_dict"][k].double() - b["state_dict"][k].double()).abs().max()) for k in a["state_dict"]]
    for sa, sb in zip(a["optimizer_states"][0]["state"].values(), b["optimizer_states"][0]["state"].values(), strict=True):
        diffs += [float((sa[k].double() - sb[k].double()).abs().max()) for k in sa if torch.is_tensor(sa[k])]
    return max(diffs)
