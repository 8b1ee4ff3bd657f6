"""Seeded chunked random projection: equals its dense matrix, preserves inner products in expectation, bounded blocks."""

import pytest
import torch

from bilight.metrics.projection import PROJECTION_KINDS, Projector, random_projection


@pytest.mark.parametrize("kind", PROJECTION_KINDS)
def test_chunked_projection_equals_dense(kind: str) -> None:
    proj = Projector(dim_in=10, dim_out=4, seed=3, chunk_size=3, kind=kind)  # type: ignore[arg-type]
    dense = proj.dense(torch.float64)
    assert dense.shape == (4, 10)
    x = torch.randn(5, 10, dtype=torch.float64)
    torch.testing.assert_close(proj.project(x), x @ dense.T)
    pieces = [x[:, :1], x[:, 1:5].reshape(5, 2, 2), x[:, 5:7], x[:, 7:]]  # cut across block boundaries, with extra dims
    torch.testing.assert_close(proj.project_chunks(pieces, batch_dims=1), x @ dense.T)


def test_same_seed_same_projection_other_seed_other() -> None:
    x = torch.randn(50)
    assert torch.equal(random_projection(x, 8, seed=1), random_projection(x, 8, seed=1))
    assert not torch.equal(random_projection(x, 8, seed=1), random_projection(x, 8, seed=2))


@pytest.mark.parametrize("kind", PROJECTION_KINDS)
def test_inner_products_preserved_in_expectation(kind: str) -> None:
    gen = torch.Generator().manual_seed(0)
    x, z = torch.randn(40, generator=gen, dtype=torch.float64), torch.randn(40, generator=gen, dtype=torch.float64)
    x = x / x.norm()
    y = 0.6 * x + 0.8 * (z - (z @ x) * x) / (z - (z @ x) * x).norm()  # unit vector with <x, y> = 0.6
    both = torch.stack([x, y])
    estimates = []
    for seed in range(400):
        px, py = Projector(40, 16, seed=seed, chunk_size=16, kind=kind).project(both)  # type: ignore[arg-type]
        estimates.append(torch.stack([px @ py, px @ px]))
    mean = torch.stack(estimates).mean(0)
    # Per seed the std of <Px, Py> is about sqrt((1 + 0.6^2) / 16) = 0.29; over 400 seeds 0.015.
    assert mean[0].item() == pytest.approx(0.6, abs=0.06)
    assert mean[1].item() == pytest.approx(1.0, abs=0.06)


@pytest.mark.parametrize("kind", PROJECTION_KINDS)
def test_blocks_are_bounded_and_drawn_once(kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    dim_in, chunk = 100_003, 1_000
    proj = Projector(dim_in, dim_out=8, seed=0, chunk_size=chunk, kind=kind)  # type: ignore[arg-type]
    widths: list[int] = []
    dense_block, sparse_block = Projector._block, Projector._sparse_block

    def spy_dense(self: Projector, index: int, dtype: torch.dtype) -> torch.Tensor:
        block = dense_block(self, index, dtype)
        assert block.shape[0] == 8
        widths.append(block.shape[1])
        return block

    def spy_sparse(self: Projector, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        rows, signs = sparse_block(self, index)
        widths.append(rows.numel())
        return rows, signs

    monkeypatch.setattr(Projector, "_block", spy_dense)
    monkeypatch.setattr(Projector, "_sparse_block", spy_sparse)
    x = torch.randn(2, dim_in)
    pieces = list(torch.split(x, 37, dim=1))  # many small, misaligned pieces, like per-parameter gradients
    out = proj.project_chunks(pieces, batch_dims=1)
    assert out.shape == (2, 8)
    assert max(widths) <= chunk
    assert len(widths) == proj.num_blocks == 101  # each block drawn once, never the whole [8, dim_in] matrix
    assert sum(widths) == dim_in


def test_for_parameters_and_column_count_errors() -> None:
    params = [torch.zeros(3, 4), torch.zeros(5)]
    proj = Projector.for_parameters(params, dim_out=2, chunk_size=4)
    assert proj.dim_in == 17
    with pytest.raises(ValueError, match="hold 16 columns, but dim_in is 17"):
        proj.project_chunks([torch.zeros(16)])
    with pytest.raises(ValueError, match="hold 18 columns"):
        proj.project_chunks([torch.zeros(12), torch.zeros(6)])
    with pytest.raises(ValueError, match="kind"):
        Projector(4, 2, kind="fourier")  # type: ignore[arg-type]
