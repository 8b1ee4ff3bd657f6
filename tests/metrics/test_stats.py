import math

import pytest

from bilight.metrics.stats import mean_se, paired_difference, ranks, spearman


def test_mean_se_by_hand():
    est = mean_se([1.0, 0.0, 1.0, 1.0])
    assert est.mean == 0.75
    # sample variance of (1,0,1,1) = 0.25, so se = sqrt(0.25/4) = 0.25
    assert est.se == pytest.approx(0.25)
    assert est.points() == "+75.0 ± 25.0"
    assert math.isnan(mean_se([3.0]).se)


def test_paired_difference_uses_the_pairs():
    before = [0.0, 1.0, 0.0, 1.0, 0.0]
    after = [1.0, 1.0, 0.0, 1.0, 1.0]
    est = paired_difference(before, after)
    assert est.mean == pytest.approx(0.4)
    # differences (1,0,0,0,1): variance 0.3, se sqrt(0.3/5)
    assert est.se == pytest.approx(math.sqrt(0.3 / 5))
    with pytest.raises(ValueError, match="pair the same items"):
        paired_difference([1.0], [1.0, 0.0])


def test_ranks_share_ties():
    assert ranks([10.0, 30.0, 20.0, 20.0]) == [1.0, 4.0, 2.5, 2.5]


def test_spearman_monotone_and_permutation_p():
    x = [float(i) for i in range(10)]
    result = spearman(x, [v**3 for v in x], permutations=2000)
    assert result.rho == pytest.approx(1.0)
    # only the identity ordering (and its reverse, for |rho|) reach |rho| = 1: p ~ 1/2001
    assert result.p_value < 0.005
    anti = spearman(x, [-v for v in x], permutations=200)
    assert anti.rho == pytest.approx(-1.0)


def test_spearman_of_unrelated_values_is_not_significant():
    x = [0.1, 0.5, 0.2, 0.9, 0.4, 0.7, 0.3, 0.8]
    y = [0.3, 0.2, 0.9, 0.1, 0.8, 0.4, 0.6, 0.5]
    result = spearman(x, y, permutations=2000)
    assert result.p_value > 0.1
    assert spearman(x, y, permutations=2000).p_value == result.p_value  # seeded: deterministic


def test_spearman_degenerate_inputs():
    assert math.isnan(spearman([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]).rho)
    assert spearman([1.0, 2.0], [2.0, 1.0]).p_value == 1.0
