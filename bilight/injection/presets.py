"""The paper's recipes as named policies: ``data.injection: bridge`` in YAML picks one.

``vanilla`` is the plain chain of thought; ``bridge`` is the reference recipe (exploration
p = 0.1 with 30% aimed at distractors, analysis probability 0/0.1/0.4/0.8/1.0 by number of
parents, one operation at a time); the ablations keep one half of it; ``answer_aug`` and
``question_aug`` are the augmentation baselines with ``k`` rows per problem.
"""

from __future__ import annotations

from collections.abc import Callable

from bilight.injection.policy import InjectionPolicy

ANALYSIS_LEVEL_2 = (0.0, 0.1, 0.4, 0.8, 1.0)


def vanilla() -> InjectionPolicy:
    return InjectionPolicy()


def bridge() -> InjectionPolicy:
    return InjectionPolicy(explore_p=0.1, explore_distractor_share=0.3, analysis_probs=ANALYSIS_LEVEL_2, detailed=True)


def explore_only() -> InjectionPolicy:
    return InjectionPolicy(explore_p=0.1, explore_distractor_share=0.3)


def exploit_only() -> InjectionPolicy:
    return InjectionPolicy(analysis_probs=ANALYSIS_LEVEL_2, detailed=True)


def answer_aug(k: int = 4) -> InjectionPolicy:
    return InjectionPolicy(augment="answer", copies=k)


def question_aug(k: int = 4) -> InjectionPolicy:
    return InjectionPolicy(augment="question", copies=k)


PRESETS: dict[str, Callable[[], InjectionPolicy]] = {
    "vanilla": vanilla,
    "bridge": bridge,
    "explore_only": explore_only,
    "exploit_only": exploit_only,
    "answer_aug": answer_aug,
    "question_aug": question_aug,
}


def get(name: str) -> InjectionPolicy:
    """A preset by name, with a clear error listing the known ones."""
    if name not in PRESETS:
        raise ValueError(f"unknown injection preset {name!r}; choose one of {sorted(PRESETS)} or pass an InjectionPolicy")
    return PRESETS[name]()
