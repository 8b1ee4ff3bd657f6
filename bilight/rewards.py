"""Rewards for GRPO: the task verifier's binary correctness, plus optional weighted shaping terms.

Why two kinds: rollout accuracy (alpha), dynamic-sampling filters and ``rollout/acc`` must read the
verifier's 0/1 verdict, never a shaped total, so `score` returns correctness as its own tensor
beside the total reward ``correct + sum_i weight_i * reward_i(completion)``.

Extra rewards are small classes with a ``weight`` and a ``name``, so YAML picks them by class path::

    rewards:
      - class_path: bilight.rewards.FormatReward
        init_args: {weight: 0.1}

Each is a pure function of (completion text, problem, verdict); no model output is executed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from bilight.types import Problem, Verdict


class Reward:
    """Base of the extra reward terms: ``weight * self(completion, problem, verdict)`` is added to correctness.

    Args:
        weight: multiplier of this term in the total reward.
    """

    name = "reward"

    def __init__(self, weight: float = 1.0) -> None:
        self.weight = weight

    def __call__(self, completion: str, problem: Problem, verdict: Verdict) -> float:
        raise NotImplementedError


class FormatReward(Reward):
    """1 when the completion states a final answer (a closed ``\\boxed{}``), else 0.

    Args:
        weight: multiplier of this term in the total reward (e.g. 0.1).
    """

    name = "format"

    def __call__(self, completion: str, problem: Problem, verdict: Verdict) -> float:
        return float(verdict.predicted is not None)


class LengthPenalty(Reward):
    """``-max(0, chars - budget) / budget``: a soft penalty on completions longer than ``budget`` characters.

    Args:
        weight: multiplier of this term in the total reward.
        budget: completions up to this many characters are not penalised.
    """

    name = "length"

    def __init__(self, weight: float = 1.0, budget: int = 1000) -> None:
        super().__init__(weight)
        if budget <= 0:
            raise ValueError(f"LengthPenalty.budget must be positive, got {budget}")
        self.budget = budget

    def __call__(self, completion: str, problem: Problem, verdict: Verdict) -> float:
        return -max(0, len(completion) - self.budget) / self.budget


@dataclass(frozen=True)
class Scores:
    """Rewards of ``N`` completions.

    Attributes:
        rewards: ``[N]`` total reward, correctness plus the weighted extra terms.
        correct: ``[N]`` binary verifier correctness (0/1 floats).
        terms: ``{name: [N]}`` each extra term before weighting, for logging.
    """

    rewards: torch.Tensor
    correct: torch.Tensor
    terms: dict[str, torch.Tensor]


def score(completions: Sequence[str], problems: Sequence[Problem], verdicts: Sequence[Verdict], extra: Sequence[Reward] = ()) -> Scores:
    """Total reward and correctness of each completion (one problem and verdict per completion)."""
    if not len(completions) == len(problems) == len(verdicts):
        raise ValueError(f"score: got {len(completions)} completions, {len(problems)} problems and {len(verdicts)} verdicts")
    correct = torch.tensor([float(v.correct) for v in verdicts])
    total = correct.clone()
    terms: dict[str, torch.Tensor] = {}
    for term in extra:
        values = torch.tensor([term(c, p, v) for c, p, v in zip(completions, problems, verdicts, strict=True)])
        terms[term.name] = values
        total += term.weight * values
    return Scores(total, correct, terms)
