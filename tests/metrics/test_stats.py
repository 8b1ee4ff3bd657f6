import math

import pytest

from bilight.metrics.stats import mean_se, paired_difference, partial_spearman, ranks, spearman


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


def test_partial_spearman_by_hand():
    z = [1.0, 2.0, 3.0, 4.0]
    x = [1.0, 3.0, 2.0, 4.0]  # rank residuals on z: [-0.3, 0.9, -0.9, 0.3]
    y = [2.0, 1.0, 4.0, 3.0]  # rank residuals on z: [0.4, -1.2, 1.2, -0.4]
    assert spearman(x, y).rho == pytest.approx(0.0)  # the raw ranks are uncorrelated ...
    given = partial_spearman(x, y, z, permutations=500)
    assert given.rho == pytest.approx(-1.0) and given.n == 4  # ... but given z they move exactly against each other
    assert partial_spearman(x, x, z).rho == pytest.approx(1.0)
    # a constant z explains nothing: the partial correlation is the plain one, with the same permutation p-value
    plain, flat = spearman(x, [v**2 for v in y], permutations=300), partial_spearman(x, [v**2 for v in y], [5.0] * 4, permutations=300)
    assert flat.rho == pytest.approx(plain.rho) and flat.p_value == plain.p_value


def test_partial_spearman_of_a_predictor_that_is_the_confounder_is_nan():
    z = [0.1, 0.4, 0.2, 0.3, 0.5]
    result = partial_spearman([2 * v for v in z], [1.0, 3.0, 2.0, 5.0, 4.0], z)
    assert math.isnan(result.rho) and result.p_value == 1.0
    assert math.isnan(partial_spearman([1.0, 2.0, 3.0], [3.0, 1.0, 2.0], [1.0, 1.0, 2.0]).rho)  # fewer than 4 triples
    with pytest.raises(ValueError, match="3 x, 3 y and 2 z"):
        partial_spearman([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], [1.0, 2.0])
