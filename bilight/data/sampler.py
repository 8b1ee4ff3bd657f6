"""A seeded, length-grouped, rank-sharded, resumable order over the training rows.

Rows are shuffled per epoch from ``(seed, epoch)`` alone, then sorted by length inside windows
of ``window`` rows, so that a batch holds rows of similar length (less padding: about a third
of the compute of randomly batched iGSM rows is padding) while the order stays random at the
scale of windows.

Under DDP each rank takes every ``num_replicas``-th row of the one global order (padded like
``DistributedSampler`` so every rank gets as many rows). The class *is* a ``DistributedSampler``
so that Lightning leaves it alone instead of wrapping it in its ``DistributedSamplerWrapper``,
which materialises a whole epoch of the inner sampler up front and so cannot resume mid-epoch.

Resuming: ``state_dict`` records the epoch and ``consumed``, the rows of the global order used by
finished training steps. Inside Lightning the data module sets ``consumed`` from the fit loop's
batch counter before saving (the sampler itself runs ahead of training: Lightning and DataLoader
workers prefetch), so a resumed run continues with the first unused row: nothing replayed or
skipped, on any number of ranks.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch.utils.data import DistributedSampler


class GroupedShuffleSampler(DistributedSampler[int]):
    """Shuffle, then sort by length within windows; deterministic in (seed, epoch); one shard per rank.

    Like ``DistributedSampler``, the epoch comes from `set_epoch` (Lightning calls it at every
    epoch start); a plain loop that never calls it gets the next epoch's order after it has
    exhausted one.

    Args:
        lengths: token length of each row.
        seed: shuffle seed.
        window: rows per length-sorted window (1 disables grouping); use a multiple of the global batch size.
        num_replicas: number of ranks sharing the order (the trainer's world size).
        rank: this process's global rank.
    """

    def __init__(self, lengths: Sequence[int], seed: int = 0, window: int = 1024, num_replicas: int = 1, rank: int = 0) -> None:
        # DistributedSampler.__init__ is not called: it wants a dataset and an initialised process
        # group, where this sampler only needs the lengths and the rank it is told.
        if not 0 <= rank < num_replicas:
            raise ValueError(f"GroupedShuffleSampler: rank {rank} is not in [0, {num_replicas})")
        self.lengths = list(lengths)
        self.seed = seed
        self.window = max(1, window)
        self.num_replicas, self.rank = num_replicas, rank
        self.shuffle, self.drop_last = True, False
        self.num_samples = math.ceil(len(self.lengths) / num_replicas)
        self.total_size = self.num_samples * num_replicas
        self.epoch = 0
        self.consumed = 0  # rows of this epoch's global order already used
        self._resume: tuple[int, int] | None = None  # (epoch, consumed) from a checkpoint, applied by the next __iter__
        self._epoch_shift = 0  # our epoch minus the caller's, fixed by the first set_epoch after a resume

    def order(self, epoch: int) -> list[int]:
        """The global order of ``epoch`` (all ranks), padded by wrapping around to ``total_size``."""
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        perm = torch.randperm(len(self.lengths), generator=generator).tolist()
        if self.window > 1:
            windows = [sorted(perm[i : i + self.window], key=self.lengths.__getitem__) for i in range(0, len(perm), self.window)]
            perm = [i for w in windows for i in w]
        pad = self.total_size - len(perm)
        return perm + (perm * math.ceil(pad / max(1, len(perm))))[:pad]

    def __iter__(self) -> Iterator[int]:
        epoch, start = self.epoch, 0
        if self._resume is not None and self._resume[0] == epoch:
            start = self._resume[1]
        self._resume = None
        order = self.order(epoch)
        self.consumed = start
        for index in order[start:][self.rank :: self.num_replicas]:
            self.consumed += self.num_replicas
            yield index
        self.epoch = epoch + 1  # exhausted: a plain loop moves on; Lightning sets the epoch itself
        self.consumed = 0

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        """Follow the caller's epoch count, shifted so that a loaded position keeps its own epoch.

        Lightning's epoch counter can lag the data by one: its epoch progress is not advanced for
        an epoch entered by a restart, so after resuming twice across an epoch boundary it would
        ask for the previous epoch's order again. The checkpointed position is the truth here.
        """
        if self._resume is not None:
            self._epoch_shift = self._resume[0] - epoch
        self.epoch = epoch + self._epoch_shift

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "consumed": min(self.consumed, self.total_size), "seed": self.seed}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from a saved position; a finished epoch continues with the next one."""
        if state.get("seed", self.seed) != self.seed:
            raise ValueError(f"sampler state was saved with seed {state['seed']} but data.seed is {self.seed}; resume with the same config")
        epoch, consumed = int(state["epoch"]), int(state["consumed"])
        if consumed >= self.total_size:
            epoch, consumed = epoch + 1, 0
        self.epoch, self.consumed = epoch, consumed
        self._resume = (epoch, consumed)
