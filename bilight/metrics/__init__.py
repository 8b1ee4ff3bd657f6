"""Pure metric math for the diagnostic callbacks: rollout accuracy (alpha, pass@k) and co-influence (K+ - K-, dJ).

No Lightning here: callbacks gather tensors (over ranks too), call these functions and log the results.
"""

from bilight.metrics.accuracy import (
    AlphaHistogram,
    accuracy_by_difficulty,
    alpha_histogram,
    alpha_summary,
    avg_at_k,
    informative_mass,
    mean_pass_at_k,
    pass_at_k,
    rollout_alpha,
)
from bilight.metrics.influence import CoInfluence, InfluenceStats, co_influence, co_influence_from_grads, influence_stats
from bilight.metrics.projection import PROJECTION_KINDS, ProjectionKind, Projector, random_projection

__all__ = [
    "PROJECTION_KINDS",
    "AlphaHistogram",
    "CoInfluence",
    "InfluenceStats",
    "ProjectionKind",
    "Projector",
    "accuracy_by_difficulty",
    "alpha_histogram",
    "alpha_summary",
    "avg_at_k",
    "co_influence",
    "co_influence_from_grads",
    "influence_stats",
    "informative_mass",
    "mean_pass_at_k",
    "pass_at_k",
    "random_projection",
    "rollout_alpha",
]
