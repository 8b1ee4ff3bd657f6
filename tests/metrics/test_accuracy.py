"""Rollout-accuracy metrics against closed forms and hand-counted toy tensors."""

import math

import pytest
import torch

from bilight.metrics.accuracy import (
    accuracy_by_difficulty,
    alpha_histogram,
    alpha_summary,
    avg_at_k,
    informative_mass,
    mean_pass_at_k,
    pass_at_k,
    rollout_alpha,
)


def closed_form(n: int, c: int, k: int) -> float:
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def test_pass_at_k_matches_closed_form_on_a_grid() -> None:
    for n in range(1, 13):
        for c in range(n + 1):
            for k in range(1, n + 1):
                assert float(pass_at_k(n, c, k)) == pytest.approx(closed_form(n, c, k), abs=1e-12), (n, c, k)


def test_pass_at_k_edge_cases() -> None:
    assert float(pass_at_k(10, 0, 3)) == 0.0  # nothing correct
    assert float(pass_at_k(10, 8, 3)) == 1.0  # n - c = 2 < k: every draw of 3 holds a correct one
    assert float(pass_at_k(10, 10, 10)) == 1.0
    assert float(pass_at_k(10, 3, 1)) == pytest.approx(0.3)  # pass@1 = c / n
    assert float(pass_at_k(200, 1, 100)) == pytest.approx(0.5)  # large n stays stable


def test_pass_at_k_is_vectorised_over_prompts() -> None:
    c = torch.tensor([0, 1, 4, 7, 8])
    values = pass_at_k(8, c, 2)
    assert values.shape == (5,)
    assert values.tolist() == pytest.approx([closed_form(8, int(ci), 2) for ci in c])
    n = torch.tensor([4, 8, 16])
    assert pass_at_k(n, torch.tensor([1, 1, 1]), 4).tolist() == pytest.approx([1.0, closed_form(8, 1, 4), closed_form(16, 1, 4)])


def test_pass_at_k_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="k <= n"):
        pass_at_k(4, 1, 5)
    with pytest.raises(ValueError, match="c <= n"):
        pass_at_k(4, 5, 1)


def test_mean_pass_at_k_and_avg_at_k() -> None:
    correct = torch.tensor([[1, 0, 0, 0], [1, 1, 0, 0], [0, 0, 0, 0]], dtype=torch.bool)
    result = mean_pass_at_k(correct, [1, 2, 4])
    assert result[1] == pytest.approx(avg_at_k(correct)) == pytest.approx(3 / 12)
    assert result[2] == pytest.approx((closed_form(4, 1, 2) + closed_form(4, 2, 2) + 0.0) / 3)
    assert result[4] == pytest.approx(2 / 3)


def test_alpha_and_histogram_on_a_hand_made_tensor() -> None:
    correct = torch.tensor([[0, 0, 0, 0], [1, 0, 0, 0], [0, 0, 1, 0], [1, 1, 1, 1], [1, 0, 1, 0]])
    alpha = rollout_alpha(correct)
    assert alpha.tolist() == [0.0, 0.25, 0.25, 1.0, 0.5]
    hist = alpha_histogram(alpha, num_samples=4)
    assert hist.counts.tolist() == [1, 2, 1, 0, 1]
    assert hist.centers.tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert hist.edges.tolist() == [-0.125, 0.125, 0.375, 0.625, 0.875, 1.125]
    assert hist.fractions.tolist() == pytest.approx([0.2, 0.4, 0.2, 0.0, 0.2])


def test_informative_mass_is_zero_when_all_right_or_all_wrong() -> None:
    assert informative_mass(rollout_alpha(torch.ones(6, 8))) == 0.0
    assert informative_mass(rollout_alpha(torch.zeros(6, 8))) == 0.0
    assert informative_mass(torch.full((3,), 0.5)) == pytest.approx(0.5)
    assert informative_mass(torch.tensor([0.0, 0.5, 1.0, 0.25])) == pytest.approx((0.5 + math.sqrt(0.1875)) / 4)


def test_alpha_summary_shares() -> None:
    correct = torch.tensor([[0, 0], [1, 1], [1, 1], [1, 0]])
    summary = alpha_summary(correct)
    assert summary == pytest.approx({"mean_alpha": 0.625, "informative_mass": 0.125, "frac_alpha_0": 0.25, "frac_alpha_1": 0.5})


def test_accuracy_by_difficulty_groups_prompts() -> None:
    greedy = torch.tensor([1, 0, 1, 1, 0])
    difficulty = torch.tensor([3, 1, 1, 3, 2])
    assert accuracy_by_difficulty(greedy, difficulty) == {1: (0.5, 2), 2: (0.0, 1), 3: (1.0, 2)}
    sampled = torch.tensor([[1, 0], [1, 1], [0, 0]])
    assert accuracy_by_difficulty(sampled, torch.tensor([2, 2, 5])) == {2: (0.75, 2), 5: (0.0, 1)}


def test_non_binary_correctness_is_rejected() -> None:
    with pytest.raises(ValueError, match="0/1 or bool"):
        rollout_alpha(torch.tensor([[0.5, 1.0]]))
    with pytest.raises(ValueError, match=r"\[M, N\]"):
        rollout_alpha(torch.tensor([1, 0]))
