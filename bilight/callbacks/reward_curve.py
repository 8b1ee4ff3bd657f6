"""`RewardCurve`: the GRPO reward curve, drawn while the run goes, beside the log and in TensorBoard.

TensorBoard already plots each scalar; this figure puts the ones a person reads together on one
page (rollout accuracy with a moving mean, greedy accuracy of ``greedy_in_group`` runs, in-run
validation, and the share of groups that carry no learning signal), the picture
``benchmarks/plot_grpo.py`` draws from a finished run's CSV.
"""

from __future__ import annotations

import math
from typing import Any

import lightning as L
from typing_extensions import override

from bilight.callbacks.summary import run_dir, save_figure
from bilight.metrics.plots import REWARD_CURVE_KEYS, VAL_ID_ACCURACY, reward_curve_figure


class RewardCurve(L.Callback):
    """Collect the per-step rollout metrics of a GRPO run and draw them every ``every_n_steps`` and at the end.

    Writes ``reward_curve.png`` in the run folder (redrawn whole each time) and adds the figure to
    TensorBoard as ``rollout/reward_curve``. The collected rows are saved in checkpoints, so a
    resumed run draws its whole history. The x axis counts optimizer steps done.

    Args:
        every_n_steps: redraw period in optimizer steps; 0 draws only when fit ends.
        window: moving-mean window in steps.
        filename: file name inside the run folder.
    """

    def __init__(self, every_n_steps: int = 50, window: int = 20, filename: str = "reward_curve.png") -> None:
        if every_n_steps < 0 or window < 1:
            raise ValueError(f"RewardCurve: every_n_steps must be >= 0 and window >= 1, got {every_n_steps} and {window}")
        self.every_n_steps, self.window, self.filename = every_n_steps, window, filename
        self.rows: list[dict[str, float]] = []

    @override
    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int) -> None:
        row = {key: float(trainer.callback_metrics[key]) for key in REWARD_CURVE_KEYS if key in trainer.callback_metrics}
        if row:
            self.rows.append({"step": float(trainer.global_step), **row})
        if self.every_n_steps and trainer.global_step % self.every_n_steps == 0:
            self.draw(trainer)

    @override
    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or trainer.state.fn != "fit":
            return
        row = {key: float(value) for key, value in trainer.callback_metrics.items() if VAL_ID_ACCURACY.fullmatch(key)}
        if row and all(not math.isnan(v) for v in row.values()):
            self.rows.append({"step": float(trainer.global_step), **row})

    @override
    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.draw(trainer)

    def draw(self, trainer: L.Trainer) -> None:
        """Redraw ``reward_curve.png`` from every row so far (rank zero; nothing before the first step)."""
        if not trainer.is_global_zero or not self.rows:
            return
        fig = reward_curve_figure(self.rows, window=self.window)
        save_figure(trainer, fig, run_dir(trainer) / self.filename, "rollout/reward_curve")

    @override
    def state_dict(self) -> dict[str, Any]:
        return {"rows": self.rows}

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.rows = list(state_dict["rows"])
