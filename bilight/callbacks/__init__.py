"""Lightning callbacks: run summaries and export, and the RL-readiness diagnostics (rollout accuracy, co-influence, report)."""

from bilight.callbacks.co_influence import CoInfluence
from bilight.callbacks.report import RLReadinessReport, diagnose
from bilight.callbacks.resume import ResumeRNG
from bilight.callbacks.rollout_accuracy import RolloutAccuracy
from bilight.callbacks.summary import ExportHF, FitSummary

__all__ = ["CoInfluence", "ExportHF", "FitSummary", "RLReadinessReport", "ResumeRNG", "RolloutAccuracy", "diagnose"]
