"""`NonFiniteGuard`: a NaN or inf in the gradient stops the run before it reaches the weights.

One bad step (an overflow, a corrupt batch) turns every weight into NaN, and the periodic
checkpoint after it would save the broken model over the last good one. The guard checks the
gradients just before each optimizer step (after the loss and backward, before clipping; a
non-finite loss gives non-finite gradients) and either stops the run with a message naming the
step, the parameter and the last checkpoint written (which is intact: nothing was applied), or,
with ``action: skip``, drops that update (no weight or optimizer-moment change), counts it in
``train/nonfinite_skipped`` and stops only after ``max_skips`` of them. It works for SFT
(automatic optimization) and GRPO (manual ``opt.step()``): Lightning calls the hook in both.

The CLI adds it to every run (``--nonfinite.action skip``, ``--nonfinite.max_skips N``). For the
fault-injection tests, ``BILIGHT_NONFINITE_AT=N`` poisons the gradient at global step N.
"""

from __future__ import annotations

import os
from typing import Any, Literal

import lightning as L
import torch
from typing_extensions import override

from bilight.errors import TrainingError

INJECT_ENV = "BILIGHT_NONFINITE_AT"


class NonFiniteGuard(L.Callback):
    """Stop (or skip the update) when a gradient is NaN or inf.

    Args:
        action: ``stop`` ends the run with a message, keeping the last good checkpoint; ``skip``
            drops the update and counts it in ``train/nonfinite_skipped``.
        max_skips: with ``skip``, stop after this many skipped updates (a run that keeps
            diverging is not a run).
    """

    def __init__(self, action: Literal["stop", "skip"] = "stop", max_skips: int = 10) -> None:
        self.action, self.max_skips = action, max_skips
        self.skipped = 0

    @override
    def on_before_optimizer_step(self, trainer: L.Trainer, pl_module: L.LightningModule, optimizer: Any) -> None:
        named = [(n, p.grad) for n, p in pl_module.named_parameters() if p.grad is not None]
        if not named:
            return
        if os.environ.get(INJECT_ENV) == str(trainer.global_step):
            named[0][1].fill_(float("nan"))
        finite = torch.stack([torch.isfinite(g).all() for _, g in named])
        if bool(finite.all()):
            return
        bad = named[int((~finite).nonzero()[0])][0]
        if self.action == "skip" and self.skipped < self.max_skips:
            self.skipped += 1
            for _, p in pl_module.named_parameters():
                p.grad = None  # the optimizer skips parameters without a gradient: no step, no moment update
            pl_module.log("train/nonfinite_skipped", float(self.skipped))
            return
        raise TrainingError(self._message(trainer, bad))

    def _message(self, trainer: L.Trainer, parameter: str) -> str:
        ckpt = getattr(trainer.checkpoint_callback, "last_model_path", "") or getattr(trainer.checkpoint_callback, "best_model_path", "")
        kept = f"the last checkpoint, {ckpt}, is intact" if ckpt else "no checkpoint was written yet"
        skipped = f" after {self.skipped} skipped updates" if self.skipped else ""
        return (
            f"step {trainer.global_step}: the gradient of {parameter} is not finite (NaN or inf){skipped}; training stopped "
            f"before this update, {kept}. Lower the learning rate, check the data, or skip such steps with "
            "--nonfinite.action skip; resume with --ckpt_path last"
        )

    @override
    def state_dict(self) -> dict[str, Any]:
        return {"skipped": self.skipped}

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.skipped = int(state_dict.get("skipped", 0))
