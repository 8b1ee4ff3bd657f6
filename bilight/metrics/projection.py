"""Seeded random projection of gradients to d dims, in chunks, with memory bounded by d, not the parameter count.

Why: co-influence needs inner products of per-rollout gradients. With all parameters of a model
(no LoRA) a gradient has P entries; we keep ``P x`` with a random ``P: [d, P]`` instead (TRAK-style,
Johnson-Lindenstrauss), which preserves inner products in expectation:

    E[<P x, P y>] = <x, y>   when the entries of P are independent, mean 0, variance 1/d.

Kinds (all satisfy the identity above):

* ``gaussian``: ``N(0, 1) / sqrt(d)`` entries;
* ``rademacher``: ``+-1 / sqrt(d)`` entries;
* ``sparse`` (CountSketch): each input column goes to one uniformly drawn output row with a random
  sign; cost O(P) per vector instead of O(P d), and no [d, chunk] block at all. Its inner-product
  variance is within a small factor of the dense kinds for gradients that are not concentrated
  on a few coordinates.

How: the columns of P are cut into fixed blocks of ``chunk_size`` columns; block ``b`` is drawn on the
fly from a CPU generator seeded with a hash of ``(seed, b)``, used, and dropped. ``P`` is therefore a pure
function of ``(dim_in, dim_out, seed, chunk_size, kind)``: every DDP rank and every epoch get the same
projection, and a slice of a gradient can be projected without the rest. ``project_chunks`` takes a
stream of consecutive pieces (e.g. the per-parameter gradients in ``named_parameters`` order) and
buffers them into whole blocks, so a block is drawn once per call however the pieces are cut.

Memory bound (beyond the caller's own tensors), for a batch of B vectors:
``dim_out * chunk_size`` floats for one dense block (none for ``sparse``), ``B * chunk_size`` for the
buffer of pending columns and ``B * dim_out`` for the result; never ``dim_out * dim_in``.
Time: drawing the blocks costs O(dim_out * dim_in) per call whatever B is, so project many vectors
(a whole group's per-sample gradients) per call.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable
from typing import Literal

import numpy as np
import torch

ProjectionKind = Literal["gaussian", "rademacher", "sparse"]
PROJECTION_KINDS: tuple[ProjectionKind, ...] = ("gaussian", "rademacher", "sparse")


class Projector:
    """A seeded random ``[dim_out, dim_in]`` projection applied block by block, never materialised.

    Args:
        dim_in: length of the vectors to project (e.g. the number of parameters in the subset).
        dim_out: projected dimension d.
        seed: selects the projection; the same seed gives the same projection everywhere; ``seed >= 0``.
        chunk_size: columns per block; a dense block holds ``dim_out * chunk_size`` floats.
        kind: ``"gaussian"``, ``"rademacher"`` or ``"sparse"`` (CountSketch), see the module docstring.
    """

    def __init__(self, dim_in: int, dim_out: int, seed: int = 0, chunk_size: int = 4096, kind: ProjectionKind = "gaussian") -> None:
        if dim_in < 1 or dim_out < 1 or chunk_size < 1:
            raise ValueError(f"Projector: dim_in, dim_out and chunk_size must be >= 1, got {dim_in}, {dim_out}, {chunk_size}")
        if seed < 0:
            raise ValueError(f"Projector: seed must be >= 0, got {seed}")
        if kind not in PROJECTION_KINDS:
            raise ValueError(f"Projector: kind must be one of {PROJECTION_KINDS}, got {kind!r}")
        self.dim_in, self.dim_out, self.seed, self.chunk_size, self.kind = dim_in, dim_out, seed, chunk_size, kind

    @classmethod
    def for_parameters(
        cls, params: Iterable[torch.Tensor], dim_out: int, seed: int = 0, chunk_size: int = 4096, kind: ProjectionKind = "gaussian"
    ) -> Projector:
        """A projector whose ``dim_in`` is the total number of entries of ``params`` (other arguments as in ``__init__``)."""
        return cls(sum(p.numel() for p in params), dim_out, seed=seed, chunk_size=chunk_size, kind=kind)

    @property
    def num_blocks(self) -> int:
        return math.ceil(self.dim_in / self.chunk_size)

    def _generator(self, index: int) -> torch.Generator:
        # torch's CPU generator (mt19937) keeps only 32 bits of its seed, so (seed, index) is hashed to 32 well-mixed bits.
        return torch.Generator().manual_seed(int(np.random.SeedSequence([self.seed, index]).generate_state(1)[0]))

    def _width(self, index: int) -> int:
        return min(self.chunk_size, self.dim_in - index * self.chunk_size)

    def _block(self, index: int, dtype: torch.dtype) -> torch.Tensor:
        """Block ``index`` of a dense projection: ``[dim_out, width]`` columns ``index * chunk_size`` onwards."""
        shape, gen = (self.dim_out, self._width(index)), self._generator(index)
        if self.kind == "gaussian":
            block = torch.randn(shape, generator=gen, dtype=dtype)
        else:
            block = torch.randint(0, 2, shape, generator=gen).to(dtype).mul_(2).sub_(1)
        return block.div_(math.sqrt(self.dim_out))

    def _sparse_block(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Block ``index`` of a CountSketch: ``[width]`` output rows and ``[width]`` signs (+-1)."""
        width, gen = self._width(index), self._generator(index)
        rows = torch.randint(0, self.dim_out, (width,), generator=gen)
        signs = torch.randint(0, 2, (width,), generator=gen).mul_(2).sub_(1)
        return rows, signs

    def _apply_block(self, x: torch.Tensor, index: int, out: torch.Tensor) -> None:
        """``out += P[:, block index] x`` for ``x [..., width]``, ``out [..., dim_out]``."""
        if self.kind == "sparse":
            rows, signs = self._sparse_block(index)
            out.index_add_(-1, rows.to(x.device), x.to(out.dtype) * signs.to(device=x.device, dtype=out.dtype))
        else:
            block = self._block(index, out.dtype).to(x.device)
            out.add_(x.to(out.dtype) @ block.T)

    def project_chunks(self, chunks: Iterable[torch.Tensor], batch_dims: int = 0) -> torch.Tensor:
        """Project the concatenation of consecutive pieces of the input vector(s).

        Args:
            chunks: pieces in order; piece i has shape ``[*batch, *rest_i]`` and contributes ``prod(rest_i)``
                columns (flattened row-major, like ``torch.cat([p.flatten() for p in params])``). Their
                columns must add up to ``dim_in``.
            batch_dims: number of leading batch dimensions shared by all pieces (1 for per-sample gradients).

        Returns:
            ``[*batch, dim_out]`` projection, float32 (float64 if the input is float64).
        """
        pending: deque[torch.Tensor] = deque()
        pending_cols, fed, index, out = 0, 0, 0, None
        for chunk in chunks:
            flat = chunk.reshape(*chunk.shape[:batch_dims], -1)
            if out is None:
                dtype = torch.promote_types(flat.dtype, torch.float32)
                out = torch.zeros(*flat.shape[:-1], self.dim_out, dtype=dtype, device=flat.device)
            pending.append(flat)
            pending_cols += flat.shape[-1]
            fed += flat.shape[-1]
            while index < self.num_blocks and pending_cols >= self._width(index):
                width = self._width(index)
                self._apply_block(_take_columns(pending, width), index, out)
                pending_cols -= width
                index += 1
        if out is None or fed != self.dim_in:
            raise ValueError(f"Projector.project_chunks: the pieces hold {fed} columns, but dim_in is {self.dim_in}")
        return out

    def project(self, x: torch.Tensor) -> torch.Tensor:
        """Project ``x [..., dim_in]`` to ``[..., dim_out]``."""
        return self.project_chunks([x], batch_dims=x.dim() - 1)

    def dense(self, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """The whole ``[dim_out, dim_in]`` matrix, for tests and small cases only (it is what chunking avoids)."""
        return self.project(torch.eye(self.dim_in, dtype=dtype)).T


def _take_columns(pending: deque[torch.Tensor], width: int) -> torch.Tensor:
    """Pop the first ``width`` columns off a queue of ``[..., cols]`` pieces (views, one copy of ``width`` columns)."""
    taken: list[torch.Tensor] = []
    need = width
    while need > 0:
        head = pending.popleft()
        if head.shape[-1] > need:
            taken.append(head[..., :need])
            pending.appendleft(head[..., need:])
            need = 0
        else:
            taken.append(head)
            need -= head.shape[-1]
    return taken[0] if len(taken) == 1 else torch.cat(taken, dim=-1)


def random_projection(
    x: torch.Tensor, dim_out: int, seed: int = 0, chunk_size: int = 4096, kind: ProjectionKind = "gaussian"
) -> torch.Tensor:
    """One-call form: project ``x [..., dim_in]`` with ``Projector(x.shape[-1], dim_out, seed, chunk_size, kind)``."""
    return Projector(x.shape[-1], dim_out, seed=seed, chunk_size=chunk_size, kind=kind).project(x)
