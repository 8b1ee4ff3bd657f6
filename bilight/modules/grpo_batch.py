"""Group bookkeeping for `GRPOModule`: joining and filtering rollout batches, and the refill prompt stream.

Why a separate file: dynamic sampling needs to keep some groups of a `Rollouts`, draw more
prompts, and join the pieces (whose prompt and completion lengths differ) into one batch; none of
that is GRPO math, and the module reads better without it.

`PromptStream` is the source of refill prompts: an endless walk over the ``rl`` split in a seeded
order, reshuffled every pass, whose whole state is two integers (``epoch``, ``position``), so a
checkpoint restores it exactly.
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F

from bilight.types import Rollouts


def _rows(values: tuple, keep: list[bool]) -> tuple:
    return tuple(v for v, k in zip(values, keep, strict=True) if k) if values else ()


def _maybe(x: torch.Tensor | None, index: torch.Tensor) -> torch.Tensor | None:
    return x[index] if x is not None else None


def select_groups(batch: Rollouts, keep: torch.Tensor) -> Rollouts:
    """The groups (prompts) where ``keep`` ``[B]`` is True, with their ``G`` completions each."""
    rows = keep.repeat_interleave(batch.group_size)
    listed = rows.tolist()
    return dataclasses.replace(
        batch,
        prompt_ids=batch.prompt_ids[keep],
        prompt_mask=batch.prompt_mask[keep],
        completion_ids=batch.completion_ids[rows],
        completion_mask=batch.completion_mask[rows],
        logprobs=batch.logprobs[rows],
        truncated=batch.truncated[rows],
        texts=_rows(batch.texts, listed),
        verdicts=_rows(batch.verdicts, listed),
        correct=_maybe(batch.correct, rows),
        rewards=_maybe(batch.rewards, rows),
        index=_maybe(batch.index, keep),
    )


def _left_pad(x: torch.Tensor, width: int, value: float) -> torch.Tensor:
    return F.pad(x, (width - x.shape[1], 0), value=value)


def _right_pad(x: torch.Tensor, width: int, value: float) -> torch.Tensor:
    return F.pad(x, (0, width - x.shape[1]), value=value)


def _cat(parts: list[torch.Tensor | None]) -> torch.Tensor | None:
    return None if any(p is None for p in parts) else torch.cat(parts)  # type: ignore[arg-type]


def cat_rollouts(batches: list[Rollouts], pad_token_id: int) -> Rollouts:
    """Join rollouts along the prompt axis: prompts left-padded, completions right-padded to the longest."""
    if len(batches) == 1:
        return batches[0]
    p = max(b.prompt_ids.shape[1] for b in batches)
    t = max(b.completion_ids.shape[1] for b in batches)
    return Rollouts(
        prompt_ids=torch.cat([_left_pad(b.prompt_ids, p, pad_token_id) for b in batches]),
        prompt_mask=torch.cat([_left_pad(b.prompt_mask, p, 0) for b in batches]),
        completion_ids=torch.cat([_right_pad(b.completion_ids, t, pad_token_id) for b in batches]),
        completion_mask=torch.cat([_right_pad(b.completion_mask, t, 0) for b in batches]),
        logprobs=torch.cat([_right_pad(b.logprobs, t, 0.0) for b in batches]),
        truncated=torch.cat([b.truncated for b in batches]),
        texts=tuple(t for b in batches for t in b.texts),
        verdicts=tuple(v for b in batches for v in b.verdicts),
        correct=_cat([b.correct for b in batches]),
        rewards=_cat([b.rewards for b in batches]),
        index=_cat([b.index for b in batches]),
        split=batches[0].split,
    )


def trim_completions(batch: Rollouts) -> Rollouts:
    """Drop trailing completion columns that no row uses (after filtering, the longest row may be gone)."""
    used = int(batch.completion_mask.sum(0).nonzero().max()) + 1 if bool(batch.completion_mask.any()) else 0
    if used == batch.completion_ids.shape[1]:
        return batch
    return dataclasses.replace(
        batch,
        completion_ids=batch.completion_ids[:, :used],
        completion_mask=batch.completion_mask[:, :used],
        logprobs=batch.logprobs[:, :used],
    )


def take_members(batch: Rollouts, start: int, stop: int) -> Rollouts:
    """Members ``start..stop-1`` of every group, with the completion columns no kept row uses dropped; the inverse of
    `prepend_to_groups` (``take_members(b, 0, 1)`` is a ``greedy_first`` batch's greedy member, ``(1, G)`` its samples)."""
    g = batch.group_size
    if not 0 <= start < stop <= g:
        raise ValueError(f"take_members: need 0 <= start < stop <= G = {g}, got {start}, {stop}")
    member = torch.arange(batch.completion_ids.shape[0], device=batch.completion_ids.device) % g
    rows = (member >= start) & (member < stop)
    listed = rows.tolist()
    kept = dataclasses.replace(
        batch,
        completion_ids=batch.completion_ids[rows],
        completion_mask=batch.completion_mask[rows],
        logprobs=batch.logprobs[rows],
        truncated=batch.truncated[rows],
        texts=_rows(batch.texts, listed),
        verdicts=_rows(batch.verdicts, listed),
        correct=_maybe(batch.correct, rows),
        rewards=_maybe(batch.rewards, rows),
    )
    return trim_completions(kept)


def prepend_to_groups(first: Rollouts, rest: Rollouts, pad_token_id: int) -> Rollouts:
    """Groups of ``1 + R`` completions of the same prompts: each prompt's row of ``first`` then its ``R`` rows of ``rest``."""
    width = max(first.completion_ids.shape[1], rest.completion_ids.shape[1])
    prompts, r = first.num_prompts, rest.group_size

    def join(a: torch.Tensor, b: torch.Tensor, value: float) -> torch.Tensor:
        if a.dim() == 2:
            a, b = _right_pad(a, width, value), _right_pad(b, width, value)
        return torch.cat([a.unsqueeze(1), b.view(prompts, -1, *b.shape[1:])], dim=1).flatten(0, 1)

    def interleave(a: tuple, b: tuple) -> tuple:
        return tuple(x for i in range(prompts) for x in (a[i], *b[i * r : (i + 1) * r])) if a and b else ()

    correct = join(first.correct, rest.correct, 0.0) if first.correct is not None and rest.correct is not None else None
    return dataclasses.replace(
        rest,
        completion_ids=join(first.completion_ids, rest.completion_ids, pad_token_id),
        completion_mask=join(first.completion_mask, rest.completion_mask, 0),
        logprobs=join(first.logprobs, rest.logprobs, 0.0),
        truncated=join(first.truncated, rest.truncated, False),
        texts=interleave(first.texts, rest.texts),
        verdicts=interleave(first.verdicts, rest.verdicts),
        correct=correct,
        rewards=None,
    )


def length_buckets(lengths: torch.Tensor, budget: int) -> list[torch.Tensor]:
    """Row indices sorted by ``lengths`` (longest first) and cut into groups of at most ``budget`` padded tokens (>= 1 row)."""
    order = torch.argsort(lengths, descending=True, stable=True)
    widths = lengths[order].tolist()
    chunks, start = [], 0
    while start < len(widths):
        size = max(1, budget // max(int(widths[start]), 1))
        chunks.append(order[start : start + size])
        start += size
    return chunks


class PromptStream:
    """Endless seeded order over ``size`` prompt indices; a new permutation each pass.

    Args:
        size: number of prompts in the split.
        seed: seed of the permutations (pass ``p`` uses ``seed + p``).
        rank: this process's shard of every permutation (``order[rank::world_size]``).
        world_size: number of shards.
    """

    def __init__(self, size: int, seed: int = 0, rank: int = 0, world_size: int = 1) -> None:
        if size < world_size or size <= 0:
            raise ValueError(f"PromptStream: the prompt split has {size} prompts for {world_size} ranks; raise data.num_rl")
        self.seed, self.rank, self.world_size = seed, rank, world_size
        self.size = len(range(rank, size, world_size))
        self.total = size
        self.epoch, self.position = 0, 0

    def _order(self) -> list[int]:
        order = torch.randperm(self.total, generator=torch.Generator().manual_seed(self.seed + self.epoch)).tolist()
        return order[self.rank :: self.world_size]

    def take(self, n: int) -> list[int]:
        """The next ``n`` prompt indices."""
        out: list[int] = []
        while len(out) < n:
            order = self._order()
            step = min(n - len(out), self.size - self.position)
            out += order[self.position : self.position + step]
            self.position += step
            if self.position == self.size:
                self.epoch, self.position = self.epoch + 1, 0
        return out

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "position": self.position, "seed": self.seed, "size": self.size}

    def load_state_dict(self, state: dict[str, int]) -> None:
        if state["size"] != self.size:
            raise ValueError(f"PromptStream: checkpoint was written for {state['size']} prompts, the data module has {self.size}")
        self.epoch, self.position, self.seed = state["epoch"], state["position"], state["seed"]
