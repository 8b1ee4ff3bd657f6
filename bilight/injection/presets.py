"""The paper's recipes as named policies: ``data.injection: bridge`` in YAML picks one.

``vanilla`` is the plain chain of thought; ``bridge`` is the reference recipe (exploration
p = 0.1 with 30% aimed at distractors, analysis probability 0/0.1/0.4/0.8/1.0 by number of
inputs, detailed one-chain computation); the ablations keep one half of it; ``answer_aug`` and
``question_aug`` are the augmentation baselines with ``k`` rows per problem.

Every preset takes ``style`` (``"compact"``, the default, or ``"reference"``: the authors'
answer wording). In YAML, ``data.injection: bridge:reference`` names a preset with its style
(``presets.get`` reads the part after the colon); a full ``InjectionPolicy`` mapping with
``style: reference`` works as well.
"""

from __future__ import annotations

from collections.abc import Callable

from bilight.injection.policy import InjectionPolicy, Style

ANALYSIS_LEVEL_2 = (0.0, 0.1, 0.4, 0.8, 1.0)


def vanilla(style: Style = "compact") -> InjectionPolicy:
    return InjectionPolicy(style=style)


def bridge(style: Style = "compact") -> InjectionPolicy:
    return InjectionPolicy(explore_p=0.1, explore_distractor_share=0.3, analysis_probs=ANALYSIS_LEVEL_2, detailed=True, style=style)


def explore_only(style: Style = "compact") -> InjectionPolicy:
    return InjectionPolicy(explore_p=0.1, explore_distractor_share=0.3, style=style)


def exploit_only(style: Style = "compact") -> InjectionPolicy:
    return InjectionPolicy(analysis_probs=ANALYSIS_LEVEL_2, detailed=True, style=style)


def answer_aug(k: int = 4, style: Style = "compact") -> InjectionPolicy:
    return InjectionPolicy(augment="answer", copies=k, style=style)


def question_aug(k: int = 4, style: Style = "compact") -> InjectionPolicy:
    return InjectionPolicy(augment="question", copies=k, style=style)


PRESETS: dict[str, Callable[..., InjectionPolicy]] = {
    "vanilla": vanilla,
    "bridge": bridge,
    "explore_only": explore_only,
    "exploit_only": exploit_only,
    "answer_aug": answer_aug,
    "question_aug": question_aug,
}


def get(name: str, style: Style | None = None) -> InjectionPolicy:
    """A preset by name (``"bridge"``, or ``"bridge:reference"`` with its style), with a clear error listing the known ones."""
    base, _, suffix = name.partition(":")
    if base not in PRESETS:
        raise ValueError(f"unknown injection preset {base!r}; choose one of {sorted(PRESETS)} or pass an InjectionPolicy")
    chosen = style or suffix or "compact"
    if chosen not in ("compact", "reference"):
        raise ValueError(f"injection preset {name!r}: style must be 'compact' or 'reference', got {chosen!r}")
    return PRESETS[base](style=chosen)
