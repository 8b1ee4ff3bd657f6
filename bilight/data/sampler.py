"""A seeded, length-grouped, resumable order over the training rows.

Rows are shuffled per epoch from ``(seed, epoch)`` alone, then sorted by length inside windows
of ``window`` rows, so that a batch holds rows of similar length (less padding: about a third
of the compute of randomly batched iGSM rows is padding) while the order stays random at the
scale of windows. ``state_dict`` records the epoch and how many indices were handed out, so a
resumed run continues mid-epoch with no replayed or skipped row.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch.utils.data import Sampler


class GroupedShuffleSampler(Sampler[int]):
    """Shuffle, then sort by length within windows; deterministic in (seed, epoch).

    Args:
        lengths: token length of each row.
        seed: shuffle seed.
        window: rows per length-sorted window (1 disables grouping); use a multiple of the batch size.
    """

    def __init__(self, lengths: Sequence[int], seed: int = 0, window: int = 1024) -> None:
        self.lengths = list(lengths)
        self.seed = seed
        self.window = max(1, window)
        self.epoch = 0
        self.position = 0  # indices handed out in the current epoch
        self._resume_position = 0

    def order(self, epoch: int) -> list[int]:
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        perm = torch.randperm(len(self.lengths), generator=generator).tolist()
        if self.window == 1:
            return perm
        windows = [sorted(perm[i : i + self.window], key=self.lengths.__getitem__) for i in range(0, len(perm), self.window)]
        return [i for w in windows for i in w]

    def __iter__(self) -> Iterator[int]:
        order = self.order(self.epoch)
        start, self._resume_position = self._resume_position, 0
        self.position = start
        for index in order[start:]:
            self.position += 1
            yield index
        self.epoch += 1
        self.position = 0

    def __len__(self) -> int:
        return len(self.lengths)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "position": self.position, "seed": self.seed}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("seed", self.seed) != self.seed:
            raise ValueError(f"sampler state was saved with seed {state['seed']} but data.seed is {self.seed}; resume with the same config")
        self.epoch = int(state["epoch"])
        self._resume_position = int(state["position"])
