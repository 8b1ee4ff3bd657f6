"""Kill -9 a real GRPO run and resume: rollouts (sampling generator), refills (prompt stream), data
position and updates continue exactly, so losses, rewards and weights equal an uninterrupted run."""

from pathlib import Path

import pytest
import torch

from tests.resume.runs import ROOT, fit, losses, max_abs_diff, run_folder

pytestmark = pytest.mark.slow
GRPO = ["--config", str(ROOT / "configs" / "grpo" / "igsm_tiny_bridge.yaml"), "--config", str(Path(__file__).with_name("grpo_tiny.yaml"))]
STEPS = 12  # 6 prompt batches an epoch, a checkpoint every 3 steps


def grpo_fit(run_dir: Path, **kwargs: str | bool) -> None:
    fit(run_dir, *GRPO, base=False, **kwargs)  # type: ignore[arg-type]


def last(run_dir: Path) -> dict:
    return torch.load(run_folder(run_dir, "grpo") / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)


@pytest.fixture(scope="module")
def grpo_reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = tmp_path_factory.mktemp("grpo_uninterrupted")
    grpo_fit(run_dir)
    return run_dir


def assert_same_run(run_dir: Path, reference: Path) -> None:
    for key in ("train/loss", "rollout/reward_mean", "rollout/refills"):
        got, want = losses(run_dir, key, "grpo"), losses(reference, key, "grpo")
        assert [s for s, _ in got] == list(range(STEPS))
        assert got == want, key
    a, b = last(run_dir), last(reference)
    assert a["global_step"] == b["global_step"] == STEPS
    assert max_abs_diff(a, b) == 0.0
    assert torch.equal(a["grpo"]["generator"], b["grpo"]["generator"]) and a["grpo"]["stream"] == b["grpo"]["stream"]


def test_grpo_reference_exercises_refills(grpo_reference: Path) -> None:
    assert any(v > 0 for _, v in losses(grpo_reference, "rollout/refills", "grpo")), "no refill: the stream state is untested"
    stream = last(grpo_reference)["grpo"]["stream"]
    assert (stream["epoch"], stream["position"]) > (0, 0)  # the stream moved (measured: 3 passes over the 24 prompts, then 0)


def test_grpo_kill_twice_mid_epoch_then_resume(tmp_path: Path, grpo_reference: Path) -> None:
    grpo_fit(tmp_path, expect_kill=True, BILIGHT_TEST_KILL_AT="4")  # resumes from step 3, mid-epoch
    grpo_fit(tmp_path, resume=True, expect_kill=True, BILIGHT_TEST_KILL_AT="10")  # from step 9, mid-epoch 1
    grpo_fit(tmp_path, resume=True)
    assert_same_run(tmp_path, grpo_reference)


def test_grpo_kill_after_an_epoch_boundary_checkpoint(tmp_path: Path, grpo_reference: Path) -> None:
    grpo_fit(tmp_path, expect_kill=True, BILIGHT_TEST_KILL_AT="7")  # the step-6 checkpoint closed epoch 0
    assert last(tmp_path)["global_step"] == 6
    grpo_fit(tmp_path, resume=True)
    assert_same_run(tmp_path, grpo_reference)
