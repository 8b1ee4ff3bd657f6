"""Statistics of generated problems and injected solutions, beside the BRIDGE reference numbers.

The paper's claims about its data (op histogram, share of zero/negative answers, necessary and
distractor nodes; exploration attempts, analysis sentences and length of injected answers) are
the parity targets of `bilight.tasks.igsm` and `bilight.injection`. This module measures ours so
that a notebook cell or ``python -m bilight.injection.stats`` prints the comparison table.
Lengths are measured in characters and in word-level tokens (the task tokenizer's pieces).
"""

from __future__ import annotations

import random
import re
import statistics
from collections import Counter
from collections.abc import Sequence

from bilight.injection import presets
from bilight.injection.policy import InjectionPolicy
from bilight.injection.writer import write_solution
from bilight.tasks.base import Task
from bilight.types import Problem

# What the reference generator and injector produce at 15-20 operations (from the issue / paper).
REFERENCE_PROBLEMS: dict[str, float] = {"zero answers": 0.19, "negative answers": 0.12, "necessary nodes": 12.0, "distractor nodes": 2.5}
REFERENCE_BRIDGE: dict[str, float] = {
    "failed explorations / answer": 0.9,
    "answers with 0 failed explorations": 0.40,
    "answers with 1 failed exploration": 0.35,
    "answers with 2 failed explorations": 0.19,
    "analysis sentences / answer": 3.9,
    "length vs vanilla (chars)": 1.5,
}

_PIECE = re.compile(r" ?[A-Za-z]+| ?\d| ?[^\sA-Za-z\d]|\s")


def num_tokens(text: str) -> int:
    """Length in the word-level task tokenizer's pieces (words, single digits, punctuation)."""
    return len(_PIECE.findall(text))


def problem_stats(problems: Sequence[Problem]) -> dict[str, float]:
    """Shares of zero/negative answers, mean necessary/distractor nodes, and the op histogram."""
    n = len(problems)
    out: dict[str, float] = {
        "zero answers": sum(p.answer == 0 for p in problems) / n,
        "negative answers": sum(not isinstance(p.answer, bool) and p.answer < 0 for p in problems) / n,
        "necessary nodes": statistics.mean(len(p.dag.necessary) for p in problems),
        "distractor nodes": statistics.mean(len(p.dag.distractors) for p in problems),
        "max |answer|": max(abs(int(p.answer)) for p in problems),
    }
    for ops, count in sorted(Counter(p.difficulty for p in problems).items()):
        out[f"ops={ops}"] = count / n
    return out


def injection_stats(problems: Sequence[Problem], policy: InjectionPolicy | None = None, seed: int = 0) -> dict[str, float]:
    """Exploration, analysis and length statistics of ``policy`` (default bridge) against vanilla."""
    policy = policy or presets.bridge()
    rng = random.Random(seed)
    fails: list[int] = []
    analyses: list[int] = []
    chars: list[float] = []
    tokens: list[float] = []
    early: list[int] = []
    for p in problems:
        injected = write_solution(p, policy, rng)
        plain = write_solution(p, presets.vanilla(), rng)
        kinds = [s.kind for s in injected.steps]
        fails.append(kinds.count("explore"))
        analyses.append(kinds.count("analysis"))
        early.append(len({s.node for s in injected.steps if s.kind == "early_solve"}))
        chars.append(len(injected.text) / len(plain.text))
        tokens.append(num_tokens(injected.text) / num_tokens(plain.text))
    n = len(problems)
    hist = Counter(fails)
    return {
        "failed explorations / answer": statistics.mean(fails),
        "answers with 0 failed explorations": hist[0] / n,
        "answers with 1 failed exploration": hist[1] / n,
        "answers with 2 failed explorations": hist[2] / n,
        "answers with 3+ failed explorations": sum(v for k, v in hist.items() if k >= 3) / n,
        "early solves / answer": statistics.mean(early),
        "analysis sentences / answer": statistics.mean(analyses),
        "length vs vanilla (chars)": statistics.mean(chars),
        "length vs vanilla (tokens)": statistics.mean(tokens),
    }


def comparison_table(task: Task, n: int = 500) -> str:
    """A markdown table of ours vs the reference for ``task`` (meant for IGSM at 15-20 operations)."""
    problems = [task.problem(i) for i in range(n)]
    ours = {**problem_stats(problems), **injection_stats(problems)}
    reference = {**REFERENCE_PROBLEMS, **REFERENCE_BRIDGE}
    lines = [f"| statistic ({task!r}, {n} problems) | ours | reference |", "|---|---|---|"]
    for key, value in ours.items():
        ref = reference.get(key)
        lines.append(f"| {key} | {_fmt(value)} | {_fmt(ref) if ref is not None else ''} |")
    return "\n".join(lines)


def _fmt(value: float) -> str:
    return f"{value:.0f}" if isinstance(value, int) or value >= 100 else f"{value:.3g}" if value < 1 else f"{value:.2f}"


if __name__ == "__main__":
    from bilight.tasks.igsm import IGSM

    print(comparison_table(IGSM(min_ops=15, max_ops=20, seed=100)))
