"""`AtomicCheckpointIO`: a checkpoint is either the old complete file or the new complete file.

A preempted job is killed at any moment, including while ``last.ckpt`` is being written; the
next job then resumes from ``last``. The checkpoint is therefore written to a temporary file in
the same folder, flushed and fsynced, and only then renamed over the target with
``os.replace`` (atomic on POSIX), and the folder entry is fsynced too, so even a power loss
leaves either the previous or the new checkpoint. Lightning's own ``TorchCheckpointIO`` renames
through an fsspec transaction but never fsyncs. ``ModelCheckpoint(save_last=True)`` writes
``last.ckpt`` as a copy through this IO (``save_last: link`` would make a symlink outside it).

Select it in YAML::

    trainer:
      plugins:
        - bilight.checkpoint.AtomicCheckpointIO

For the fault-injection tests, ``BILIGHT_KILL_DURING_SAVE=N`` SIGKILLs the process during its
``N``-th save, after the temporary file is written and before the rename.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import lightning as L
import torch
import torch.distributed as dist
from lightning.fabric.plugins import TorchCheckpointIO
from lightning.fabric.utilities.types import _PATH
from typing_extensions import override

KILL_ENV = "BILIGHT_KILL_DURING_SAVE"
TMP_MARK = ".tmp-"


class AtomicCheckpointIO(TorchCheckpointIO):
    """``torch.save`` to a temporary file, fsync, ``os.replace`` over the target; local paths only."""

    def __init__(self) -> None:
        super().__init__()
        self.saves = 0

    @override
    def save_checkpoint(self, checkpoint: dict[str, Any], path: _PATH, storage_options: Any | None = None) -> None:
        if storage_options is not None:
            raise TypeError("AtomicCheckpointIO takes no storage_options; it writes local files only")
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}{TMP_MARK}{os.getpid()}")
        self.saves += 1
        try:
            with open(tmp, "wb") as f:
                torch.save(checkpoint, f)
                f.flush()
                os.fsync(f.fileno())
            if os.environ.get(KILL_ENV) == str(self.saves):
                os.kill(os.getpid(), signal.SIGKILL)  # fault injection: the temp file exists, the target is untouched
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        _fsync_dir(target.parent)

    @override
    def remove_checkpoint(self, path: _PATH) -> None:
        """Remove a checkpoint and any temporary file a killed save left beside it."""
        target = Path(path)
        target.unlink(missing_ok=True)
        for stale in target.parent.glob(f".{target.name}{TMP_MARK}*"):
            stale.unlink(missing_ok=True)


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable (POSIX; a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def gather_from_ranks(trainer: L.Trainer, obj: Any) -> list[Any]:
    """``obj`` of every rank, by global rank (a collective: call it on all ranks, e.g. while saving a checkpoint)."""
    if trainer.world_size > 1 and dist.is_available() and dist.is_initialized():
        gathered: list[Any] = [None] * trainer.world_size
        dist.all_gather_object(gathered, obj)
        return gathered
    return [obj]
