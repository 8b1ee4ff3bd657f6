"""Fault injection for the resume tests: ``BILIGHT_TEST_KILL_AT=N`` SIGKILLs the process at step N.

The kill lands after step N's backward pass and before its optimizer step, the worst moment:
gradients exist, nothing of step N is saved. ``BILIGHT_TEST_KILL_RANK`` limits it to one global rank.
"""

import os
import signal

import lightning as L
import torch
from typing_extensions import override


class KillAt(L.Callback):
    @override
    def on_before_optimizer_step(self, trainer: L.Trainer, pl_module: L.LightningModule, optimizer: torch.optim.Optimizer) -> None:
        rank = os.environ.get("BILIGHT_TEST_KILL_RANK")
        if str(trainer.global_step) == os.environ.get("BILIGHT_TEST_KILL_AT") and (rank is None or int(rank) == trainer.global_rank):
            os.kill(os.getpid(), signal.SIGKILL)
