"""Co-influence on hand-made 2-D gradients (numbers worked out below) and against a brute-force Gram matrix."""

import math

import pytest
import torch

from bilight.losses import group_advantages
from bilight.metrics.influence import InfluenceStats, co_influence, co_influence_from_grads, influence_stats

NAN = math.nan

# Three prompts, two rollouts each, 2-D gradients.
#   prompt 0: correct [1, 0], g = (1, 0), (0, 1), advantages (+1, -1)     alpha 1/2
#   prompt 1: correct [1, 0], g = (2, 0), (0, 1), advantages (+1, -1)     alpha 1/2
#   prompt 2: correct [1, 1], g = (1, 1), (1, -1), advantages (0, 0)      alpha 1: never a source
GRADS = torch.tensor([[[1.0, 0.0], [0.0, 1.0]], [[2.0, 0.0], [0.0, 1.0]], [[1.0, 1.0], [1.0, -1.0]]])
CORRECT = torch.tensor([[1, 0], [1, 0], [1, 1]], dtype=torch.bool)
ADV = torch.tensor([[1.0, -1.0], [1.0, -1.0], [0.0, 0.0]])


def test_hand_made_pairs() -> None:
    # Source 0: g+ = (1, 0), g- = (0, 1). Target 1:
    #   o'=0: g' = (2, 0), A = +1: K+ = 2, K- = 0  -> A K+ = 2,  A K- = 0
    #   o'=1: g' = (0, 1), A = -1: K+ = 0, K- = 1  -> A K+ = 0,  A K- = -1
    #   k_plus = mean(2, 0) = 1, k_minus = mean(0, -1) = -0.5, C(0, 1) = 1.5.
    # Source 1: g+ = (2, 0), g- = (0, 1). Target 0: o'=0: K+ = 2, K- = 0; o'=1: K+ = 0, K- = 1 -> same 1, -0.5, 1.5.
    # Target 2 has A = 0: C = 0 from either source. Source 2 (alpha = 1) is excluded: a NaN row.
    result = co_influence_from_grads(GRADS, CORRECT, ADV)
    expected = torch.tensor([[NAN, 1.5, 0.0], [1.5, NAN, 0.0], [NAN, NAN, NAN]], dtype=torch.float64)
    torch.testing.assert_close(result.matrix, expected, equal_nan=True)
    torch.testing.assert_close(
        result.k_plus_matrix, torch.tensor([[NAN, 1.0, 0.0], [1.0, NAN, 0.0], [NAN] * 3], dtype=torch.float64), equal_nan=True
    )
    torch.testing.assert_close(
        result.k_minus_matrix, torch.tensor([[NAN, -0.5, 0.0], [-0.5, NAN, 0.0], [NAN] * 3], dtype=torch.float64), equal_nan=True
    )
    assert result.num_pairs == 4
    assert result.co_influence == pytest.approx((1.5 + 0 + 1.5 + 0) / 4)
    assert result.k_plus == pytest.approx(0.5)
    assert result.k_minus == pytest.approx(-0.25)
    # delta_j: source weights sqrt(1/2 * 1/2) = 1/2, summed over valid pairs, divided by all M (M - 1) = 6 pairs.
    assert result.delta_j == pytest.approx((0.5 * 1.5 + 0.5 * 1.5) / 6)
    assert result.scalars("_cos").keys() == {"co_influence_cos", "delta_j_cos", "k_plus_cos", "k_minus_cos"}


def test_cosine_variant_by_hand_and_scale_invariant() -> None:
    # Normalised, prompt 1's first gradient is (1, 0): C(0, 1) = mean(+1 (1 - 0), -1 (0 - 1)) = 1, and C(1, 0) = 1.
    cos = co_influence_from_grads(GRADS, CORRECT, ADV, normalize=True)
    assert cos.matrix[0, 1].item() == pytest.approx(1.0)
    assert cos.matrix[1, 0].item() == pytest.approx(1.0)
    grads = torch.randn(4, 6, 5, generator=torch.Generator().manual_seed(0))
    correct = torch.tensor([[1, 0, 1, 0, 0, 0], [1, 1, 1, 1, 1, 0], [0] * 6, [0, 1, 0, 1, 1, 0]])
    scales = torch.rand(4, 6, 1, generator=torch.Generator().manual_seed(1)) * 10 + 0.1
    raw, scaled = co_influence_from_grads(grads, correct), co_influence_from_grads(grads * scales, correct)
    assert raw.co_influence != pytest.approx(scaled.co_influence)
    base, rescaled = (
        co_influence_from_grads(grads, correct, normalize=True),
        co_influence_from_grads(grads * scales, correct, normalize=True),
    )
    torch.testing.assert_close(base.matrix, rescaled.matrix, equal_nan=True)
    assert base.delta_j == pytest.approx(rescaled.delta_j)


def test_default_advantages_are_grpo_group_normalised() -> None:
    result = co_influence_from_grads(GRADS, CORRECT)
    a = 0.5 / (math.sqrt(0.5) + 1e-4)  # (r - 1/2) / (unbiased std + 1e-4) with r = (1, 0)
    assert result.matrix[0, 1].item() == pytest.approx(1.5 * a)
    assert result.matrix[0, 2].item() == 0.0  # prompt 2 has zero spread: advantage 0


def test_matches_brute_force_gram_matrix() -> None:
    m, n, d = 5, 6, 7
    grads = torch.randn(m, n, d, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    correct = torch.rand(m, n, generator=torch.Generator().manual_seed(3)) < 0.5
    correct[0] = True  # alpha = 1: excluded as a source
    correct[1, :2] = torch.tensor([True, False])  # at least one of each
    adv = group_advantages(correct.double())
    gram = torch.einsum("aid,bjd->aibj", grads, grads)  # K(q', o'; q, o) = gram[q', o', q, o]
    alpha = correct.double().mean(1)
    expected = torch.full((m, m), NAN, dtype=torch.float64)
    for q in range(m):
        if not 0 < alpha[q] < 1:
            continue
        for q2 in range(m):
            if q2 == q:
                continue
            k_plus = gram[q2, :, q, correct[q]].mean(-1)  # [N] over o'
            k_minus = gram[q2, :, q, ~correct[q]].mean(-1)
            expected[q, q2] = (adv[q2] * (k_plus - k_minus)).mean()
    result = co_influence_from_grads(grads, correct, adv)
    torch.testing.assert_close(result.matrix, expected, equal_nan=True)
    weight = (alpha * (1 - alpha)).sqrt().unsqueeze(1)
    assert result.delta_j == pytest.approx(float(torch.nansum(weight * expected)) / (m * (m - 1)))
    assert result.co_influence == pytest.approx(float(expected.nanmean()))
    assert result.co_influence == pytest.approx(result.k_plus - result.k_minus)


def test_prompts_with_alpha_zero_or_one_are_not_sources() -> None:
    grads = torch.randn(4, 4, 3, generator=torch.Generator().manual_seed(4))
    correct = torch.tensor([[1, 0, 0, 1], [0, 0, 0, 0], [1, 1, 1, 1], [0, 1, 1, 1]])
    before = co_influence_from_grads(grads, correct)
    assert torch.isnan(before.matrix[1]).all() and torch.isnan(before.matrix[2]).all()
    assert before.num_pairs == 2 * 3
    moved = grads.clone()
    moved[1:3] = 100 * torch.randn(2, 4, 3, generator=torch.Generator().manual_seed(5))
    after = co_influence_from_grads(moved, correct)  # zero-spread prompts: no source role, zero advantage as targets
    assert (after.co_influence, after.delta_j, after.k_plus, after.k_minus) == pytest.approx(
        (before.co_influence, before.delta_j, before.k_plus, before.k_minus)
    )


def test_no_informative_prompt_gives_nan_co_influence_and_zero_delta_j() -> None:
    result = co_influence_from_grads(torch.randn(3, 4, 2), torch.ones(3, 4))
    assert result.num_pairs == 0
    assert math.isnan(result.co_influence) and math.isnan(result.k_plus)
    assert result.delta_j == 0.0


def test_stats_concatenate_like_ranks() -> None:
    grads = torch.randn(6, 4, 3, generator=torch.Generator().manual_seed(6))
    correct = torch.rand(6, 4, generator=torch.Generator().manual_seed(7)) < 0.5
    whole = co_influence(influence_stats(grads, correct))
    parts = [influence_stats(grads[:2], correct[:2]), influence_stats(grads[2:], correct[2:])]
    gathered = co_influence(InfluenceStats(*(torch.cat([getattr(p, f) for p in parts]) for f in ("g_plus", "g_minus", "g_adv", "alpha"))))
    torch.testing.assert_close(whole.matrix, gathered.matrix, equal_nan=True)


def test_shape_errors_say_what_is_wrong() -> None:
    with pytest.raises(ValueError, match=r"grads \[M, N, d\]"):
        influence_stats(torch.zeros(2, 3), torch.zeros(2, 3))
    with pytest.raises(ValueError, match="advantages"):
        influence_stats(torch.zeros(2, 3, 4), torch.zeros(2, 3), advantages=torch.zeros(3, 2))
