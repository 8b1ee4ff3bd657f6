"""What the injector does, as data: one frozen record of knobs, readable from YAML.

The reference recipe (the BRIDGE authors' code) is `presets.bridge()`; every baseline and
ablation of the paper is another setting of the same knobs (`bilight.injection.presets`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Augment = Literal["none", "answer", "question"]
Style = Literal["compact", "reference"]


@dataclass(frozen=True)
class InjectionPolicy:
    """Knobs of the behaviour injector.

    Args:
        explore_p: probability of an exploration attempt right after a successful step (never
            before the first step, never after the last one).
        explore_distractor_share: share of exploration attempts aimed at a distractor node (the
            rest aim at a later necessary node).
        analysis_probs: probability of an information-analysis sentence before computing a node,
            indexed by its number of parents (stated constants count); the last entry covers
            every larger count.
        detailed: write a multi-operation node's computation one operation at a time (subgoals).
        early_solve: when an exploration target is already unlocked, solve it early; when False
            the attempt is skipped instead.
        augment: ``"answer"`` adds solutions in other random topological orders, ``"question"``
            adds reshufflings of the condition sentences (the paper's augmentation baselines).
        copies: rows per problem when augmenting (the original included).
        style: how solutions are worded: ``"compact"`` (short sentences, the CPU quickstart's) or
            ``"reference"`` (the BRIDGE authors' ``<think>``/``<answer>`` wording); the moves are
            the same. Pair it with the task's own ``style`` (e.g. ``IGSM(style="reference")``).
    """

    explore_p: float = 0.0
    explore_distractor_share: float = 0.3
    analysis_probs: tuple[float, ...] = (0.0,)
    detailed: bool = False
    early_solve: bool = True
    augment: Augment = "none"
    copies: int = 1
    style: Style = "compact"

    def __post_init__(self) -> None:
        for name in ("explore_p", "explore_distractor_share"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"InjectionPolicy.{name} must be in [0, 1], got {value}")
        if not self.analysis_probs or any(not 0.0 <= p <= 1.0 for p in self.analysis_probs):
            raise ValueError(f"InjectionPolicy.analysis_probs must be a non-empty tuple of probabilities, got {self.analysis_probs}")
        if self.copies < 1:
            raise ValueError(f"InjectionPolicy.copies must be >= 1, got {self.copies}")
        if self.style not in ("compact", "reference"):
            raise ValueError(f"InjectionPolicy.style must be 'compact' or 'reference', got {self.style!r}")
        if self.augment == "none" and self.copies != 1:
            raise ValueError("InjectionPolicy.copies > 1 needs augment='answer' or 'question'")

    def analysis_prob(self, num_parents: int) -> float:
        return self.analysis_probs[min(num_parents, len(self.analysis_probs) - 1)]
