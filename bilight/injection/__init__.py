"""Behaviour injection on DAG solutions (no torch): policy knobs, presets and the writer."""

from bilight.injection import presets
from bilight.injection.policy import InjectionPolicy
from bilight.injection.writer import expand, write_solution

__all__ = ["InjectionPolicy", "expand", "presets", "write_solution"]
