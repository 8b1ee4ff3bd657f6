"""Data co-influence (K+ - K-) and the first-order RL gain estimate dJ, from per-rollout gradients.

Why: BRIDGE's second factor (docs/design.md, section 1) is whether learning from one query's successes helps
other queries. On a probe set of M prompts with N rollouts each we take one gradient vector per
rollout, ``g(q, o) = grad log pi(o | q)`` (already projected to d dims, see ``bilight.metrics.projection``),
and measure, for every ordered pair of distinct prompts (source q, target q') with ``0 < alpha_q < 1``:

    K(q',o'; q,o) = < g(q',o'), g(q,o) >                      (empirical NTK)
    K+(q',o'; q)  = mean of K over the correct rollouts o of q
    K-(q',o'; q)  = mean of K over the wrong rollouts o of q
    C(q, q')      = mean_{o'} A(q',o') (K+ - K-)              (co-influence of q on q')
    dJ            = sum_{q != q', 0<alpha_q<1} sqrt(alpha_q (1 - alpha_q)) C(q, q') / (M (M - 1))

A(q', o') is the GRPO advantage of the *target* rollout (group-normalised, as in ``bilight.losses``).
The weight ``sqrt(alpha_q (1 - alpha_q))`` is the *source* prompt's: with binary rewards and
advantages ``(r - alpha)/std``, the GRPO update from q is ``E_o[A(q,o) g(q,o)] = sqrt(alpha_q (1 - alpha_q)) (g+_q - g-_q)``,
and its first-order effect on the objective of q' is ``< E_{o'}[A(q',o') g(q',o')], update >``.
(Exactly so with the population std and no eps; GRPO's Bessel std makes it ``sqrt((N-1)/N)`` times that,
a constant that does not change comparisons between checkpoints.)
So ``delta_j`` is dJ per unit learning rate, averaged over *all* ordered pairs: prompts with alpha in
{0, 1} contribute 0 to it (they move nothing), while ``co_influence`` averages ``C`` over the valid pairs
only (it is undefined, NaN, when there is none). ``k_plus`` / ``k_minus`` are the valid-pair means of
``mean_{o'} A(q',o') K+`` and of the same with K-, so ``co_influence = k_plus - k_minus`` exactly.

How: K+ and K- are linear in the source's gradients, so the means over o move inside the inner product:
``K+(q',o'; q) = < g(q',o'), g+_q >`` with ``g+_q`` the mean correct gradient of q, and
``C = (g+ - g-) G_adv^T`` is one ``[M, d] x [d, M]`` matrix product (rows: sources) (the Gram matrix ``[MN, MN]`` contracted
with the per-prompt averaging maps; never built). The per-prompt vectors (``InfluenceStats``) are also
the only thing ranks need to exchange under DDP: sum their zero-padded ``[M, d]`` tables (each rank fills
its own prompts' rows), then call ``co_influence``.
The cosine variant normalises every ``g(q, o)`` to unit length first, which makes it invariant to the
gradient scale (and so comparable across checkpoints and model sizes).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from bilight.losses import group_advantages


@dataclass(frozen=True)
class InfluenceStats:
    """Per-prompt sufficient statistics for co-influence; all float64, rows are prompts.

    Attributes:
        g_plus: ``[M, d]`` mean gradient over the correct rollouts of each prompt (zeros if it has none).
        g_minus: ``[M, d]`` mean gradient over its wrong rollouts (zeros if it has none).
        g_adv: ``[M, d]`` advantage-weighted mean ``mean_o A(q, o) g(q, o)`` (the prompt as a *target*).
        alpha: ``[M]`` rollout accuracy of each prompt.
    """

    g_plus: torch.Tensor
    g_minus: torch.Tensor
    g_adv: torch.Tensor
    alpha: torch.Tensor


def influence_stats(
    grads: torch.Tensor,
    correct: torch.Tensor,
    advantages: torch.Tensor | None = None,
    normalize: bool = False,
) -> InfluenceStats:
    """Reduce per-rollout gradients to the per-prompt vectors ``co_influence`` needs.

    Args:
        grads: ``[M, N, d]`` one (projected) gradient per rollout, ``grad log pi(o | q)``.
        correct: ``[M, N]`` binary correctness of each rollout.
        advantages: ``[M, N]`` advantages of the rollouts; ``None`` computes GRPO's group-normalised
            ``(r - mean) / (std + 1e-4)`` from ``correct`` with ``bilight.losses.group_advantages``.
        normalize: divide every gradient by its norm first (cosine variant; zero vectors stay zero).

    Returns:
        ``InfluenceStats`` with M rows.
    """
    if grads.dim() != 3 or correct.shape != grads.shape[:2]:
        raise ValueError(f"influence_stats: need grads [M, N, d] and correct [M, N], got {tuple(grads.shape)} and {tuple(correct.shape)}")
    hits = correct.to(torch.float64)
    if not bool(((hits == 0) | (hits == 1)).all()):
        raise ValueError("influence_stats: correct must be binary (0/1 or bool)")
    if advantages is None:
        advantages = group_advantages(hits)
    elif advantages.shape != correct.shape:
        raise ValueError(f"influence_stats: advantages must be [M, N] = {tuple(correct.shape)}, got {tuple(advantages.shape)}")
    g = grads.to(torch.float64)
    if normalize:
        g = g / g.norm(dim=-1, keepdim=True).clamp(min=torch.finfo(torch.float64).tiny)
    misses = 1.0 - hits
    n_hit = hits.sum(1, keepdim=True)
    n_miss = misses.sum(1, keepdim=True)
    # Batched [M, 1, N] x [M, N, d] products: weighted means over each prompt's rollouts.
    g_plus = torch.bmm((hits / n_hit.clamp(min=1)).unsqueeze(1), g).squeeze(1)
    g_minus = torch.bmm((misses / n_miss.clamp(min=1)).unsqueeze(1), g).squeeze(1)
    g_adv = torch.bmm((advantages.to(torch.float64) / g.shape[1]).unsqueeze(1), g).squeeze(1)
    return InfluenceStats(g_plus=g_plus, g_minus=g_minus, g_adv=g_adv, alpha=hits.mean(1))


@dataclass(frozen=True)
class CoInfluence:
    """Co-influence of a probe set, pair by pair and aggregated (see the module docstring for formulas).

    Attributes:
        matrix: ``[M, M]`` float64, ``matrix[q, q2]`` = C(q, q2), the co-influence of training on source
            prompt ``q`` on target prompt ``q2``; NaN on the diagonal and on rows with alpha_q in {0, 1}.
        k_plus_matrix: ``[M, M]`` ``mean_{o'} A(q2, o') K+(q2, o'; q)``, same NaN pattern.
        k_minus_matrix: ``[M, M]`` the same with K-; ``matrix = k_plus_matrix - k_minus_matrix``.
        co_influence: mean of ``matrix`` over valid pairs (NaN if none).
        delta_j: ``sum over valid pairs of sqrt(alpha_q (1 - alpha_q)) C(q, q2) / (M (M - 1))``
            (0 if no pair is valid, NaN if M < 2).
        k_plus: mean of ``k_plus_matrix`` over valid pairs.
        k_minus: mean of ``k_minus_matrix`` over valid pairs.
        num_pairs: number of valid ordered pairs.
    """

    matrix: torch.Tensor
    k_plus_matrix: torch.Tensor
    k_minus_matrix: torch.Tensor
    co_influence: float
    delta_j: float
    k_plus: float
    k_minus: float
    num_pairs: int

    def scalars(self, suffix: str = "") -> dict[str, float]:
        """``{"co_influence", "delta_j", "k_plus", "k_minus"}`` (each name + ``suffix``, e.g. ``"_cos"``)."""
        names = ("co_influence", "delta_j", "k_plus", "k_minus")
        return {name + suffix: float(getattr(self, name)) for name in names}


def co_influence(stats: InfluenceStats) -> CoInfluence:
    """Pairwise co-influence and its aggregates from per-prompt statistics (possibly gathered over ranks)."""
    m = stats.alpha.shape[0]
    valid_source = (stats.alpha > 0) & (stats.alpha < 1)  # [M]
    valid = valid_source.unsqueeze(1) & ~torch.eye(m, dtype=torch.bool)  # [M source, M target]
    nan = torch.tensor(math.nan, dtype=torch.float64)
    k_plus = torch.where(valid, stats.g_plus @ stats.g_adv.T, nan)
    k_minus = torch.where(valid, stats.g_minus @ stats.g_adv.T, nan)
    matrix = k_plus - k_minus
    num_pairs = int(valid.sum())
    weight = (stats.alpha * (1 - stats.alpha)).clamp(min=0).sqrt().unsqueeze(1)  # source alpha, [M, 1]
    # Averaged over all M (M - 1) ordered pairs: a source with alpha in {0, 1} adds 0 (weight 0, no update).
    delta_j = float(torch.where(valid, weight * matrix, 0.0).sum()) / (m * (m - 1)) if m >= 2 else math.nan
    return CoInfluence(
        matrix=matrix,
        k_plus_matrix=k_plus,
        k_minus_matrix=k_minus,
        co_influence=_mean_valid(matrix, valid),
        delta_j=delta_j,
        k_plus=_mean_valid(k_plus, valid),
        k_minus=_mean_valid(k_minus, valid),
        num_pairs=num_pairs,
    )


def _mean_valid(values: torch.Tensor, valid: torch.Tensor) -> float:
    return float(values[valid].mean()) if bool(valid.any()) else math.nan


def co_influence_from_grads(
    grads: torch.Tensor,
    correct: torch.Tensor,
    advantages: torch.Tensor | None = None,
    normalize: bool = False,
) -> CoInfluence:
    """``co_influence(influence_stats(...))`` on one process; arguments as in ``influence_stats``."""
    return co_influence(influence_stats(grads, correct, advantages, normalize=normalize))
