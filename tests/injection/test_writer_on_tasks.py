"""Every solution of every task under every preset: true equalities, spans where their kind says."""

from __future__ import annotations

import random

import pytest

from bilight.injection import expand, presets, write_solution
from bilight.injection.check import false_equalities, misplaced_spans
from bilight.injection.stats import moves
from bilight.tasks import IGSM, DyVal, Task
from bilight.tasks.dyval import KINDS
from bilight.types import Solution

TASKS: list[Task] = [
    IGSM(),
    IGSM(4, 8, seed=1),
    IGSM(15, 20, seed=100),
    IGSM(15, 20, seed=100, style="reference"),
    *(DyVal(kind, 3, 10, seed=4) for kind in KINDS),
]


@pytest.mark.parametrize("task", TASKS, ids=repr)
@pytest.mark.parametrize("preset", sorted(presets.PRESETS))
def test_solutions_are_true_and_well_placed(task: Task, preset: str) -> None:
    policy = presets.get(preset, style=getattr(task, "style", "compact"))
    n = 8 if isinstance(task, IGSM) and task.max_ops >= 10 else 25
    for i in range(n):
        problem = task.problem(i)
        for question, sol in expand(problem, policy, random.Random(i)):
            assert false_equalities(sol.text) == [], (question, sol.text)
            assert misplaced_spans(sol, problem.dag) == [], sol.text
            assert task.verify(problem, sol.text).correct
            assert f"\\boxed{{{sol.spans('answer')[0].split('{')[1].split('}')[0]}}}." in sol.spans("answer")[0]


@pytest.mark.parametrize("style", ["compact", "reference"])
def test_spans_tile_the_text(style: str) -> None:
    problem = IGSM(10, 12, seed=9, style=style).problem(1)
    sol = write_solution(problem, presets.bridge(style), random.Random(1))
    gaps = [sol.text[a.end : b.start] for a, b in zip(sol.steps, sol.steps[1:], strict=False)]
    assert set(gaps) <= {" ", "\n"} and sol.steps[-1].end == len(sol.text)
    head = sol.text[: sol.steps[0].start]
    assert head == ("" if style == "compact" else "<think>\nLet's compute the answer step by step.\n")


def test_exploration_slots_follow_the_reference() -> None:
    """After a success only; never the next node; never once the last node is next; analysis only on stated, fed nodes."""
    task = IGSM(15, 20, seed=100)
    hit_distractor = analysed_attempt = False
    for i in range(60):
        p = task.problem(i)
        sol = write_solution(p, presets.bridge(), random.Random(i))
        order = p.dag.topological_order()
        mv = moves(sol)
        nodes = [
            next(s.node for s in sol.steps if s.kind != "answer" and s.node is not None and s.start >= start) for start in _move_starts(sol)
        ]
        done: list[str] = []
        for j, (kinds, nid) in enumerate(zip(mv, nodes, strict=True)):
            if kinds & {"explore", "early_solve"}:
                assert j > 0 and "explore" not in mv[j - 1]  # right after a success
                nxt = next(n for n in order if n not in done)
                assert nid != nxt and nxt != order[-1]  # not the next node, and not when only the last one is left
                hit_distractor |= nid in p.dag.distractors
                analysed_attempt |= kinds >= {"explore", "analysis"}
            if "analysis" in kinds:
                node = p.dag.node(nid)
                assert node.stated and node.parents
            if kinds & {"regular", "early_solve"}:
                done.append(nid)
    assert hit_distractor and analysed_attempt


def _move_starts(sol: Solution) -> list[int]:
    starts, last = [], None
    for s in sol.steps:
        if s.kind == "answer":
            break
        if s.node != last:
            starts.append(s.start)
        last = s.node
    return starts


def test_detailed_computation_is_one_chain_reduced_one_operation_at_a_time() -> None:
    task = IGSM(15, 20, seed=100)
    for i in range(10):
        p = task.problem(i)
        sol = write_solution(p, presets.exploit_only(), random.Random(i))
        assert not sol.spans("subgoal")
        for text, step in zip(sol.spans("regular"), [s for s in sol.steps if s.kind == "regular"], strict=True):
            node = p.dag.node(str(step.node))
            links = text.rstrip(".").split("; so ")[1].split(" = ")
            # variable, formula (unless a plain number), values plugged in, then one link per operation
            assert len(links) == 1 + (node.parents != ()) + 1 + node.num_ops


def test_reference_wording_wraps_the_answer() -> None:
    task = IGSM(15, 20, seed=100, style="reference")
    p = task.problem(0)
    sol = write_solution(p, presets.bridge("reference"), random.Random(0))
    assert sol.text.startswith("<think>\nLet's compute the answer step by step.\n- ")
    assert sol.text.endswith(f"Thus, the answer is {p.answer}.\n</think>\n<answer>\nThe final answer is \\boxed{{{p.answer}}}.\n</answer>")
    assert all(line.startswith("- ") for line in sol.text.splitlines()[2:-5])


def test_styles_make_the_same_moves() -> None:
    compact, reference = IGSM(15, 20, seed=100), IGSM(15, 20, seed=100, style="reference")
    for i in range(20):
        a = write_solution(compact.problem(i), presets.bridge(), random.Random(i))
        b = write_solution(reference.problem(i), presets.bridge("reference"), random.Random(i))
        assert moves(a) == moves(b) and a.answer == b.answer


def test_writer_is_deterministic_given_the_rng() -> None:
    p = IGSM(8, 10, seed=2).problem(3)
    assert write_solution(p, presets.bridge(), random.Random(7)) == write_solution(p, presets.bridge(), random.Random(7))
