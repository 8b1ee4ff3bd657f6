"""A non-finite gradient stops SFT and GRPO with a clear message and keeps the last good checkpoint, or is skipped and counted.

The fault is injected by `NonFiniteGuard` itself (``BILIGHT_NONFINITE_AT=N`` poisons the gradient
at global step N), so the real CLI, loop and checkpointing run unchanged.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch

from bilight.callbacks.guard import INJECT_ENV
from tests.robustness.helpers import GRPO, SFT, TINY, run_main, scratch

GRPO_TINY = ["--model.init_args.init_from", "null", "--model.init_args.num_generations", "2", "--data.batch_size", "2"]


def _last(folder: Path) -> dict:
    return torch.load(folder / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)


@pytest.mark.parametrize(("config", "extra", "stage"), [(SFT, [], "sft"), (GRPO, GRPO_TINY, "grpo")], ids=["sft", "grpo"])
def test_nonfinite_gradient_stops_and_keeps_the_last_good_checkpoint(
    config: str, extra: list[str], stage: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(scratch(tmp_path))
    monkeypatch.setenv(INJECT_ENV, "3")
    code, message = run_main(["fit", "--config", config, "--config", TINY, *extra], capsys)
    folder = Path("runs", stage, "igsm_tiny_bridge")
    assert code == 2
    assert message.startswith("bilight: error: step 3: the gradient of model.") and "is not finite (NaN or inf)" in message, message
    assert f"training stopped before this update, the last checkpoint, {folder / 'checkpoints' / 'last.ckpt'}, is intact" in message
    ckpt = _last(folder)
    assert ckpt["global_step"] == 2
    assert all(torch.isfinite(v).all() for v in ckpt["state_dict"].values())
    assert not (folder / "hf_model").exists()  # nothing exported from a failed run


def test_skip_drops_the_update_and_counts_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(scratch(tmp_path))
    monkeypatch.setenv(INJECT_ENV, "1")
    code, _ = run_main(["fit", "--config", SFT, "--config", TINY, "--nonfinite.action", "skip"], capsys)
    folder = Path("runs", "sft", "igsm_tiny_bridge")
    assert code == 0
    ckpt = _last(folder)
    assert ckpt["global_step"] == 4
    assert all(torch.isfinite(v).all() for v in ckpt["state_dict"].values())
    adam_steps = {int(s["step"]) for s in ckpt["optimizer_states"][0]["state"].values()}
    assert adam_steps == {3}  # 4 steps, one skipped: no parameter or moment moved on it
    with open(folder / "metrics.csv", newline="") as f:
        skipped = [float(r["train/nonfinite_skipped"]) for r in csv.DictReader(f) if r.get("train/nonfinite_skipped")]
    assert skipped and skipped[-1] == 1.0
