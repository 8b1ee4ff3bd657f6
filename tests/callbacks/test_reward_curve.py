import csv

import lightning as L
import pytest
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from bilight.callbacks import RewardCurve
from bilight.metrics.plots import moving_mean, reward_curve_figure
from bilight.modules import GRPOModule
from bilight.rewards import LengthPenalty
from bilight.testing import TINY_MODEL, tiny_datamodule


def test_moving_mean_is_the_trailing_mean_over_the_window() -> None:
    assert moving_mean([1.0, 2.0, 3.0, 4.0], 2) == [1.0, 1.5, 2.5, 3.5]
    assert moving_mean([2.0, 4.0, 9.0], 5) == [2.0, 3.0, 5.0]


def test_reward_curve_figure_draws_the_keys_present() -> None:
    rows = [{"step": float(s), "rollout/acc": s / 10, "rollout/frac_zero_std": 0.5} for s in range(1, 6)]
    rows.append({"step": 5.0, "val/acc_id": 0.3})
    left, right = reward_curve_figure(rows, window=2).axes
    labels = [line.get_label() for line in left.get_lines()]
    assert "rollout/acc (2-step mean)" in labels and "val/acc_id (in-run validation)" in labels
    assert not any("greedy" in label for label in labels)  # not logged: not drawn
    mean = next(line for line in left.get_lines() if line.get_label() == "rollout/acc (2-step mean)")
    assert list(mean.get_ydata()) == pytest.approx([0.1, 0.15, 0.25, 0.35, 0.45])
    assert [line.get_label() for line in right.get_lines()] == ["rollout/frac_zero_std"]


def test_reward_curve_callback_writes_the_png_and_the_tensorboard_image_from_the_logged_steps(tmp_path) -> None:
    L.seed_everything(0)
    dm = tiny_datamodule(train_split="rl")
    module = GRPOModule(
        tokenizer=dm.tokenizer,
        judge=dm.judge,
        num_generations=4,
        max_new_tokens=8,
        val_num_samples=2,
        rewards=[LengthPenalty(budget=36)],
        **TINY_MODEL,
    )
    curve = RewardCurve(every_n_steps=2, window=2)
    loggers = [TensorBoardLogger(tmp_path, name="grpo", version="v"), CSVLogger(tmp_path, name="grpo", version="v")]
    trainer = L.Trainer(
        max_steps=3, accelerator="cpu", logger=loggers, callbacks=[curve], enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, num_sanity_val_steps=0, limit_val_batches=1, val_check_interval=2, log_every_n_steps=1,
    )  # fmt: skip
    trainer.fit(module, datamodule=dm)
    run = tmp_path / "grpo" / "v"
    assert (run / "reward_curve.png").stat().st_size > 10_000
    with open(run / "metrics.csv", newline="") as f:
        logged = [float(r["rollout/acc"]) for r in csv.DictReader(f) if r.get("rollout/acc")]
    steps = [r for r in curve.rows if "rollout/acc" in r]
    assert [r["step"] for r in steps] == [1.0, 2.0, 3.0]
    assert [r["rollout/acc"] for r in steps] == pytest.approx(logged)
    (val,) = [r for r in curve.rows if "rollout/acc" not in r]  # the in-run validation after step 2
    assert val.keys() == {"step", "val/acc_id", "val/avg@2_id"} and val["step"] == 2.0
    events = EventAccumulator(str(run), size_guidance={"images": 0}).Reload()
    assert [e.step for e in events.Images("rollout/reward_curve")] == [2, 3]  # every 2 steps, then at the end
    restored = RewardCurve()
    restored.load_state_dict(curve.state_dict())  # what a checkpoint carries: the resumed run draws the whole history
    assert restored.rows == curve.rows


def test_reward_curve_rejects_a_window_below_one() -> None:
    with pytest.raises(ValueError, match="window >= 1"):
        RewardCurve(window=0)
