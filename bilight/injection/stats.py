"""Statistics of generated problems and injected solutions, beside the BRIDGE authors' numbers.

The authors' generator and injector are the parity target of `bilight.tasks.igsm` and
`bilight.injection`: necessary nodes and their instance/abstract split, constants and copies,
the mix of inputs per stated node, operations written, distractors, failed explorations, early
solves, analysis sentences, answer and question lengths. `measure` computes every row on any
task; ``python -m bilight.injection.stats`` prints them beside `REFERENCE` with a verdict per
row (within 10%, or 5 points per bucket for a distribution). ``benchmarks/igsm_parity.py``
measures the reference column afresh from a local checkout of the authors' code.

Counting conventions, the same on both sides: a *stated* node is one the question states (iGSM's
instance quantities), the others are implied (abstract totals); ``k`` counts a node's inputs with
a stated number counted as one; a *move* of a solution is a run of spans on one node, so an
attempt written with a restated condition in its middle is still one attempt.
"""

from __future__ import annotations

import argparse
import random
import statistics
from collections.abc import Sequence

from bilight.dag import Ref
from bilight.injection import presets
from bilight.injection.policy import Style
from bilight.injection.writer import write_solution
from bilight.tasks.base import Task
from bilight.types import Problem, Solution

# (key, label, tolerance): "rel" = within 10% of the reference, "pts" = within 5 points, "" = shown only.
ROWS: tuple[tuple[str, str, str], ...] = (
    ("necessary nodes", "necessary nodes", "rel"),
    ("instance nodes", "  instance (stated)", "rel"),
    ("abstract nodes", "  abstract (implied)", "rel"),
    ("constants", "constants per problem", "rel"),
    ("copies", "copy nodes per problem", "rel"),
    ("k=1", "stated nodes with k = 1 input", "pts"),
    ("k=2", "  k = 2", "pts"),
    ("k=3", "  k = 3", "pts"),
    ("k=4", "  k = 4", "pts"),
    ("operations written", "arithmetic operations written", "rel"),
    ("nominal operations", "operations charged (max(1, inputs - 1))", "rel"),
    ("distractors", "distractors stated", "rel"),
    ("no distractors", "  problems with none", "pts"),
    ("max distractors", "  most in one problem", ""),
    ("failed explorations / answer", "failed explorations per answer", "rel"),
    ("fails=0", "  answers with 0", "pts"),
    ("fails=1", "  1", "pts"),
    ("fails=2", "  2", "pts"),
    ("fails=3", "  3", "pts"),
    ("fails=4", "  4+", "pts"),
    ("early solves / answer", "early solves per answer", "rel"),
    ("analysis sentences / answer", "analysis sentences per answer", "rel"),
    ("bridge answer chars", "BRIDGE answer length (chars)", ""),
    ("vanilla answer chars", "vanilla answer length (chars)", ""),
    ("length ratio", "BRIDGE / vanilla length", "rel"),
    ("question chars", "question length (chars)", "rel"),
    ("zero answers", "answers equal to 0", "pts"),
    ("negative answers", "negative answers", "pts"),
)

# The authors' generator (czp16/Bridge-LLM-reasoning at d356f6b, iGSM-reasoning/, "long" recipe:
# detailed computation, reflection 0.1, analysis level 2; vanilla = its "short" recipe on the same
# problems) at ops 15-20, its own seeding from seed 100, the first 2,000 kept problems (|answer| <
# 1000), measured by benchmarks/igsm_parity.py. (The first 400 alone differ by up to two
# standard error, e.g. 0.93 failed explorations per answer against 0.83 here.)
REFERENCE: dict[str, float] = {
    "necessary nodes": 12.11,
    "instance nodes": 8.63,
    "abstract nodes": 3.478,
    "constants": 1.452,
    "copies": 1.312,
    "k=1": 0.3203,
    "k=2": 0.4106,
    "k=3": 0.1889,
    "k=4": 0.08019,
    "operations written": 12.66,
    "nominal operations": 16.38,
    "distractors": 2.522,
    "no distractors": 0.4305,
    "max distractors": 13,
    "failed explorations / answer": 0.8255,
    "fails=0": 0.432,
    "fails=1": 0.3685,
    "fails=2": 0.1555,
    "fails=3": 0.0325,
    "fails=4": 0.0115,
    "early solves / answer": 0.189,
    "analysis sentences / answer": 3.778,
    "bridge answer chars": 2130,
    "vanilla answer chars": 1468,
    "length ratio": 1.452,
    "question chars": 1284,
    "zero answers": 0.174,
    "negative answers": 0.1375,
}


def moves(solution: Solution) -> list[set[str]]:
    """The kinds of each move: consecutive spans on the same node (the closing answer excluded)."""
    out: list[set[str]] = []
    last: str | None = None
    for step in solution.steps:
        if step.kind == "answer":
            break
        if step.node != last or not out:
            out.append(set())
        out[-1].add(step.kind)
        last = step.node
    return out


def measure(task: Task, n: int = 400, seed: int = 0) -> dict[str, float]:
    """Every statistic of `ROWS` over the first ``n`` problems of ``task`` (BRIDGE against vanilla in the task's style)."""
    style: Style = "reference" if getattr(task, "style", "compact") == "reference" else "compact"
    problems = [task.problem(i) for i in range(n)]
    rng = random.Random(seed)
    rows: dict[str, list[float]] = {}
    for p in problems:
        _problem_rows(rows, p)
        bridge = write_solution(p, presets.bridge(style), rng)
        plain = write_solution(p, presets.vanilla(style), rng)
        kinds = moves(bridge)
        fails = sum("explore" in m for m in kinds)
        _add(rows, "failed explorations / answer", fails)
        for b in range(5):
            _add(rows, f"fails={b}", fails == b if b < 4 else fails >= 4)
        _add(rows, "early solves / answer", sum("early_solve" in m for m in kinds))
        _add(rows, "analysis sentences / answer", sum(s.kind == "analysis" for s in bridge.steps))
        _add(rows, "bridge answer chars", len(bridge.text))
        _add(rows, "vanilla answer chars", len(plain.text))
    out = {k: statistics.mean(v) for k, v in rows.items() if not k.startswith(("k=", "_"))}
    stated = sum(rows["_stated"])
    for k in range(1, 5):
        out[f"k={k}"] = sum(rows.get(f"k={k}", [])) / stated
    out["max distractors"] = max(rows["distractors"])
    out["length ratio"] = out["bridge answer chars"] / out["vanilla answer chars"]
    return out


def _add(rows: dict[str, list[float]], key: str, value: float) -> None:
    rows.setdefault(key, []).append(float(value))


def _problem_rows(rows: dict[str, list[float]], p: Problem) -> None:
    from bilight.tasks.igsm import op_cost

    dag = p.dag
    needed = [dag.node(nid) for nid in dag.topological_order()]
    stated = [n for n in needed if n.stated]
    _add(rows, "necessary nodes", len(needed))
    _add(rows, "instance nodes", len(stated))
    _add(rows, "abstract nodes", len(needed) - len(stated))
    _add(rows, "constants", sum(not n.parents for n in stated))
    _add(rows, "copies", sum(isinstance(n.expr, Ref) for n in stated))
    for n in stated:
        _add(rows, f"k={min(n.num_parents, 4)}", 1)
    _add(rows, "_stated", len(stated))
    _add(rows, "operations written", sum(n.num_ops for n in needed))
    _add(rows, "nominal operations", sum(op_cost(n) for n in needed))
    distractors = sum(dag.node(d).stated for d in dag.distractors)
    _add(rows, "distractors", distractors)
    _add(rows, "no distractors", distractors == 0)
    _add(rows, "question chars", len(p.question))
    _add(rows, "zero answers", p.answer == 0)
    _add(rows, "negative answers", not isinstance(p.answer, bool) and p.answer < 0)


def within(key: str, reference: float, ours: float) -> bool | None:
    """Whether ``ours`` meets the row's target (None for rows shown only)."""
    tolerance = dict((k, t) for k, _, t in ROWS)[key]
    if tolerance == "rel":
        return abs(ours - reference) <= 0.10 * abs(reference)
    if tolerance == "pts":
        return abs(ours - reference) <= 0.05
    return None


def _fmt(key: str, value: float) -> str:
    if key.startswith(("k=", "fails=", "no ", "zero", "negative")):
        return f"{100 * value:.1f}%"
    return f"{value:.0f}" if value >= 100 else f"{value:.2f}"


def format_row(key: str, reference: dict[str, float], ours: dict[str, float]) -> str:
    """One markdown row: label, reference, bilight, verdict."""
    label = dict((k, lab) for k, lab, _ in ROWS)[key]
    ok = within(key, reference[key], ours[key]) if key in reference else None
    verdict = "" if ok is None else ("ok" if ok else "OFF")
    ref = _fmt(key, reference[key]) if key in reference else ""
    return f"| {label} | {ref} | {_fmt(key, ours[key])} | {verdict} |"


def table(ours: dict[str, float], reference: dict[str, float] | None = None, title: str = "bilight", verdicts: bool = True) -> str:
    """The markdown table of every row, bilight beside the reference (verdicts only mean something on the same settings)."""
    reference = REFERENCE if reference is None else reference
    lines = [f"| statistic | reference | {title} | within target |", "|---|---|---|---|"]
    rows = [format_row(key, reference, ours) for key, _, _ in ROWS]
    if not verdicts:
        rows = [row.rsplit("|", 2)[0] + "|  |" for row in rows]
    return "\n".join([*lines, *rows])


def main(argv: Sequence[str] | None = None) -> None:
    from bilight.tasks.igsm import IGSM

    parser = argparse.ArgumentParser(description="bilight's iGSM + BRIDGE statistics beside the authors' (reference: ops 15-20, seed 100)")
    parser.add_argument("--min-ops", type=int, default=15)
    parser.add_argument("--max-ops", type=int, default=20)
    parser.add_argument("--seed", type=int, default=100)
    parser.add_argument("--n", type=int, default=400)
    parser.add_argument("--style", default="reference", choices=("compact", "reference"))
    args = parser.parse_args(argv)
    task = IGSM(args.min_ops, args.max_ops, seed=args.seed, style=args.style)
    same = (args.min_ops, args.max_ops) == (15, 20)
    print(f"bilight: {task!r}, {args.n} problems; reference: the authors' generator at ops 15-20, seed 100, 2,000 problems")
    print("" if same else "(targets apply at ops 15-20 only: no verdicts for other settings)\n")
    print(table(measure(task, args.n), title=f"bilight ({args.style})", verdicts=same))


if __name__ == "__main__":
    main()
