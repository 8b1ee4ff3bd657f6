"""Statistics for comparing runs: means with standard errors, paired differences, rank correlation.

Why these and not a statistics package: an RL gain here is a few points on 1,000 problems, so every
claim needs its standard error, and a before/after claim on the *same* problems needs the paired one
(much smaller than the two unpaired errors combined). Whether a pre-RL diagnostic predicts the RL gain
is a rank question across a few dozen (recipe, seed) cells: Spearman's rho, with a permutation p-value
(exact in its assumptions, deterministic with a fixed seed, and free of a SciPy dependency for the one
distribution function it would need). When a third quantity drives both (the SFT model's own accuracy
moves the diagnostics and the gain), the partial rank correlation given it says whether a diagnostic
predicts anything beyond that quantity.

Everything takes plain sequences of floats and returns floats.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Estimate:
    """A mean with its standard error over ``n`` observations (``se`` is NaN when n < 2)."""

    mean: float
    se: float
    n: int

    def points(self) -> str:
        """``mean ± se`` as percentage points, e.g. ``+2.5 ± 1.0``."""
        return f"{100 * self.mean:+.1f} ± {100 * self.se:.1f}"


def mean_se(values: Sequence[float]) -> Estimate:
    """Mean and standard error ``std(ddof=1) / sqrt(n)`` of ``values``."""
    n = len(values)
    if n == 0:
        raise ValueError("mean_se: no values")
    mean = sum(values) / n
    if n < 2:
        return Estimate(mean, math.nan, n)
    var = sum((v - mean) ** 2 for v in values) / (n - 1)
    return Estimate(mean, math.sqrt(var / n), n)


def paired_difference(before: Sequence[float], after: Sequence[float]) -> Estimate:
    """``after - before`` over the same items: the mean difference and its paired standard error."""
    if len(before) != len(after):
        raise ValueError(f"paired_difference: {len(before)} values before and {len(after)} after; pair the same items")
    return mean_se([a - b for b, a in zip(before, after, strict=True)])


def ranks(values: Sequence[float]) -> list[float]:
    """Ranks 1..n, ties sharing their average rank."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    out = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for t in range(i, j + 1):
            out[order[t]] = (i + j) / 2 + 1
        i = j + 1
    return out


def _pearson(x: Sequence[float], y: Sequence[float]) -> float:
    mx, my = sum(x) / len(x), sum(y) / len(y)
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y, strict=True))
    sxx = sum((a - mx) ** 2 for a in x)
    syy = sum((b - my) ** 2 for b in y)
    return sxy / math.sqrt(sxx * syy) if sxx > 0 and syy > 0 else math.nan


@dataclass(frozen=True)
class RankCorrelation:
    """Spearman's rho over ``n`` pairs and its two-sided permutation p-value."""

    rho: float
    p_value: float
    n: int


def _permutation_p(a: Sequence[float], b: Sequence[float], rho: float, permutations: int, seed: int) -> float:
    """Share of seeded shuffles of ``b`` whose |Pearson r| with ``a`` reaches |rho| (the observed labelling counted)."""
    rng = random.Random(seed)
    shuffled = list(b)
    hits = 1
    for _ in range(permutations):
        rng.shuffle(shuffled)
        if abs(_pearson(a, shuffled)) >= abs(rho) - 1e-12:
            hits += 1
    return hits / (permutations + 1)


def spearman(x: Sequence[float], y: Sequence[float], permutations: int = 20_000, seed: int = 0) -> RankCorrelation:
    """Spearman's rank correlation with a two-sided permutation p-value.

    The p-value is the share of random relabellings of ``y`` whose |rho| is at least the observed one
    (counting the observed labelling, so it is never 0). rho is NaN, p 1, when either side is constant
    or there are fewer than 3 pairs.
    """
    if len(x) != len(y):
        raise ValueError(f"spearman: {len(x)} x values and {len(y)} y values")
    n = len(x)
    rx, ry = ranks(x), ranks(y)
    rho = _pearson(rx, ry) if n >= 3 else math.nan
    if math.isnan(rho):
        return RankCorrelation(math.nan, 1.0, n)
    return RankCorrelation(rho, _permutation_p(rx, ry, rho, permutations, seed), n)


def _residuals(values: Sequence[float], given: Sequence[float]) -> list[float]:
    """``values`` minus their least-squares line in ``given``."""
    mv, mg = sum(values) / len(values), sum(given) / len(given)
    sgg = sum((g - mg) ** 2 for g in given)
    slope = sum((v - mv) * (g - mg) for v, g in zip(values, given, strict=True)) / sgg if sgg > 0 else 0.0
    return [v - mv - slope * (g - mg) for v, g in zip(values, given, strict=True)]


def partial_spearman(
    x: Sequence[float], y: Sequence[float], z: Sequence[float], permutations: int = 20_000, seed: int = 0
) -> RankCorrelation:
    """Spearman's rho of ``x`` and ``y`` given ``z``, with a two-sided permutation p-value.

    The ranks of ``x`` and of ``y`` are each regressed on the ranks of ``z``; rho is the Pearson
    correlation of the two residuals, and the p-value permutes the residuals of ``y`` (as `spearman`
    permutes ``y``). NaN, p 1, with fewer than 4 triples or a residual that is constant.
    """
    if not len(x) == len(y) == len(z):
        raise ValueError(f"partial_spearman: {len(x)} x, {len(y)} y and {len(z)} z values")
    n = len(x)
    if n < 4:
        return RankCorrelation(math.nan, 1.0, n)
    rz = ranks(z)
    ex, ey = _residuals(ranks(x), rz), _residuals(ranks(y), rz)
    rho = _pearson(ex, ey)
    if math.isnan(rho):
        return RankCorrelation(math.nan, 1.0, n)
    return RankCorrelation(rho, _permutation_p(ex, ey, rho, permutations, seed), n)
