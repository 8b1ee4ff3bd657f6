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

Reading is safe too: `read_checkpoint` loads with ``weights_only=True`` (tensors and plain
containers only; unpickling anything else could run code) and turns a missing, garbage or refused
file into a `CheckpointError` that names the option and the file. A save that fails (full disk,
unwritable folder) raises a `CheckpointError` saying the previous checkpoint is intact.

For the fault-injection tests, ``BILIGHT_KILL_DURING_SAVE=N`` SIGKILLs the process during its
``N``-th save, after the temporary file is written and before the rename.
"""

from __future__ import annotations

import os
import pickle
import signal
import zipfile
from pathlib import Path
from typing import Any

import lightning as L
import torch
import torch.distributed as dist
from lightning.fabric.plugins import TorchCheckpointIO
from lightning.fabric.utilities.types import _PATH
from typing_extensions import override

from bilight.errors import CheckpointError

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
        except OSError as err:
            tmp.unlink(missing_ok=True)
            kept = "the previous checkpoint there is intact" if target.exists() else "no earlier checkpoint was there"
            raise CheckpointError(
                f"could not write the checkpoint {target}: {err.strerror or err} ({kept}); free space or make the folder writable, "
                "then resume with --ckpt_path last"
            ) from err
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


def read_checkpoint(path: str, option: str) -> dict[str, Any]:
    """Load a checkpoint with ``weights_only=True`` (memory-mapped); clear `CheckpointError` if it cannot be used."""
    file = Path(path)
    if not file.is_file():
        raise CheckpointError(f"{option}: {path} does not exist or is not a file; pass a .ckpt written by bilight")
    if not zipfile.is_zipfile(file):
        raise CheckpointError(
            f"{option}: {path} is not a checkpoint written by torch.save (not a zip archive: truncated, or another kind of file)"
        )
    try:
        ckpt = torch.load(file, map_location="cpu", weights_only=True, mmap=True)
    except pickle.UnpicklingError as err:
        raise CheckpointError(
            f"{option}: {path} was refused: it holds objects other than tensors and plain containers, and loading them "
            "could run code. Use a checkpoint written by bilight/Lightning that you trust."
        ) from err
    except (RuntimeError, OSError, EOFError, ValueError) as err:
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise CheckpointError(
            f"{option}: {path} is not a readable checkpoint ({first}); is the file complete, and written by torch.save?"
        ) from err
    if not isinstance(ckpt, dict):
        raise CheckpointError(f"{option}: {path} holds a {type(ckpt).__name__}, not a checkpoint dictionary")
    return ckpt


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


def check_shapes(saved: dict[str, Any], expected: dict[str, Any], option: str, path: str) -> None:
    """Raise `CheckpointError` if ``saved`` (a state dict) was written for another model than ``expected`` describes.

    Names missing on either side mean another architecture (number of layers, LoRA or not); a
    shape difference in the embedding rows means another tokenizer, elsewhere another size.
    """
    shared = [k for k in expected if k in saved and tuple(saved[k].shape) != tuple(expected[k].shape)]
    missing = [k for k in expected if k not in saved and not k.endswith("lm_head.weight")]  # lm_head is tied to the embeddings
    unexpected = [k for k in saved if k not in expected]
    if not (shared or missing or unexpected):
        return
    if shared:
        k = shared[0]
        there, here = tuple(saved[k].shape), tuple(expected[k].shape)
        if "embed_tokens" in k or "lm_head" in k:
            if there[0] != here[0] and there[1:] == here[1:]:
                why = (
                    f"its vocabulary has {there[0]} tokens, this model's {here[0]}: the tokenizer differs. The word-level tokenizer "
                    "is built from data.task and data.ood_task, so use the same data section (and model.name_or_path) as the run that wrote it"
                )
            else:
                why = f"{k} is {list(there)} there and {list(here)} here: another model size (hidden_size)"
        else:
            why = f"{k} is {list(there)} there and {list(here)} here: another model size (hidden_size, intermediate_size, num_heads)"
    else:
        why = f"missing {missing[:3]}, unexpected {unexpected[:3]}: another architecture (num_layers, LoRA, or another model class)"
    raise CheckpointError(f"{option}: {path} was written for another model: {why}")
