"""Kill -9 a real SFT run (mid-epoch, twice, at an epoch boundary, while saving), resume with
``--ckpt_path last``, and get bitwise the weights, optimizer moments and per-step losses of a
run that was never interrupted."""

from pathlib import Path

import pytest
import torch

from bilight.checkpoint import KILL_ENV
from tests.resume.runs import final_state, fit, losses, max_abs_diff, run_folder

pytestmark = pytest.mark.slow
STEPS = 24  # sft_tiny.yaml: 8 batches an epoch, a checkpoint every 4 steps


def assert_same_run(run_dir: Path, reference: Path) -> None:
    got, want = losses(run_dir), losses(reference)
    assert [s for s, _ in got] == list(range(STEPS)), "every step logged exactly once, in order, in one metrics.csv"
    assert got == want  # exact float equality of every per-step loss
    a, b = final_state(run_dir), final_state(reference)
    assert a["global_step"] == b["global_step"] == STEPS
    assert max_abs_diff(a, b) == 0.0
    assert a["lr_schedulers"] == b["lr_schedulers"]


def test_kill_mid_epoch_twice_then_resume_matches_uninterrupted(tmp_path: Path, reference: Path) -> None:
    fit(tmp_path, expect_kill=True, BILIGHT_TEST_KILL_AT="10")  # epoch 1, two steps after the step-8 checkpoint
    assert torch.load(run_folder(tmp_path) / "checkpoints" / "last.ckpt", weights_only=False)["global_step"] == 8
    fit(tmp_path, resume=True, expect_kill=True, BILIGHT_TEST_KILL_AT="18")  # epoch 2, mid-epoch again
    fit(tmp_path, resume=True)
    assert_same_run(tmp_path, reference)
    assert (run_folder(tmp_path) / "config.yaml").exists()


def test_kill_right_after_an_epoch_boundary_checkpoint(tmp_path: Path, reference: Path) -> None:
    fit(tmp_path, expect_kill=True, BILIGHT_TEST_KILL_AT="16")  # the step-16 checkpoint closed epoch 1
    ckpt = torch.load(run_folder(tmp_path) / "checkpoints" / "last.ckpt", weights_only=False)
    assert ckpt["global_step"] == 16 and ckpt["BilightDataModule"]["train_sampler"]["consumed"] == 32
    fit(tmp_path, resume=True)
    assert_same_run(tmp_path, reference)


def test_kill_while_saving_resumes_from_the_previous_good_checkpoint(tmp_path: Path, reference: Path) -> None:
    # Saves 1-2 are step 4 (top-k file, then last.ckpt); save 4 is step 8's last.ckpt: killed before its rename.
    fit(tmp_path, expect_kill=True, **{KILL_ENV: "4"})
    folder = run_folder(tmp_path) / "checkpoints"
    assert list(folder.glob(".last.ckpt.tmp-*")), "the kill left the temporary file, not a broken last.ckpt"
    assert torch.load(folder / "last.ckpt", weights_only=False)["global_step"] == 4
    fit(tmp_path, resume=True)
    assert_same_run(tmp_path, reference)
