"""Lightning callbacks: run summaries, the non-finite guard, export, per-problem evaluation files, the GRPO reward curve, and the RL-readiness diagnostics (rollout accuracy, co-influence, report)."""

from bilight.callbacks.co_influence import CoInfluence
from bilight.callbacks.evaluation import EvaluationWriter
from bilight.callbacks.guard import NonFiniteGuard
from bilight.callbacks.report import RLReadinessReport, diagnose
from bilight.callbacks.resume import ResumeRNG
from bilight.callbacks.reward_curve import RewardCurve
from bilight.callbacks.rollout_accuracy import RolloutAccuracy
from bilight.callbacks.summary import ExportHF, FitSummary

__all__ = [
    "CoInfluence",
    "EvaluationWriter",
    "ExportHF",
    "FitSummary",
    "NonFiniteGuard",
    "RLReadinessReport",
    "ResumeRNG",
    "RewardCurve",
    "RolloutAccuracy",
    "diagnose",
]
