"""`ResumeRNG`: every rank's python, numpy and torch RNG states travel with the checkpoint.

Lightning checkpoints the model, optimizers, schedulers, loop counters and callback states, but
no random number generator. Without them a resumed run draws different dropout masks or
samples than the run it continues. Each rank's states are gathered into the checkpoint (only rank
zero writes it) and, on resume, each rank takes back its own just before training restarts
(``on_train_start``: after the model is built and the dataloaders are created, which would
otherwise consume random numbers differently from the interrupted run).

The other parts of the resume state live with their owners: the data position in
`BilightDataModule.state_dict`, the GRPO prompt stream and sampling generator in
`GRPOModule.on_save_checkpoint`.
"""

from __future__ import annotations

import random
from typing import Any

import lightning as L
import numpy as np
import torch
from typing_extensions import override

from bilight.checkpoint import gather_from_ranks

KEY = "rng_states"  # checkpoint key: a list with one entry per global rank


def rng_state() -> dict[str, Any]:
    """This process's RNG states, as types that ``torch.load(weights_only=True)`` accepts (no numpy arrays)."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state(legacy=True)
    numpy_state = (kind, torch.from_numpy(np.asarray(keys, dtype=np.int64)), int(pos), int(has_gauss), float(gauss))
    state: dict[str, Any] = {"python": random.getstate(), "numpy": numpy_state, "torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class ResumeRNG(L.Callback):
    """Save every rank's RNG states in the checkpoint and restore them on resume (logs nothing)."""

    def __init__(self) -> None:
        self._loaded: dict[str, Any] | None = None

    @override
    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]) -> None:
        # Every rank runs dump_checkpoint together (ModelCheckpoint saves on all ranks), so a collective is safe here.
        checkpoint[KEY] = gather_from_ranks(trainer, rng_state())

    @override
    def on_load_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]) -> None:
        states = checkpoint.get(KEY)
        if not states:
            return
        if len(states) != trainer.world_size:
            raise ValueError(
                f"the checkpoint holds RNG states of {len(states)} ranks but this run has {trainer.world_size}; "
                "resume on the same number of processes, or drop bilight.callbacks.ResumeRNG to resume inexactly"
            )
        self._loaded = states[trainer.global_rank]

    @override
    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._loaded is not None:
            set_rng_state(self._loaded)
            self._loaded = None
