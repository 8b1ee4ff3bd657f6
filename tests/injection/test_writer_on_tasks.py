"""Every solution of every task under every preset: true equalities, spans where their kind says."""

from __future__ import annotations

import random

import pytest

from bilight.injection import expand, presets, write_solution
from bilight.injection.check import false_equalities, misplaced_spans
from bilight.tasks import IGSM, DyVal, Task
from bilight.tasks.dyval import KINDS

TASKS: list[Task] = [IGSM(), IGSM(4, 8, seed=1), IGSM(15, 20, seed=100), *(DyVal(kind, 3, 10, seed=4) for kind in KINDS)]


@pytest.mark.parametrize("task", TASKS, ids=repr)
@pytest.mark.parametrize("preset", sorted(presets.PRESETS))
def test_solutions_are_true_and_well_placed(task: Task, preset: str) -> None:
    policy = presets.get(preset)
    n = 8 if isinstance(task, IGSM) and task.max_ops >= 10 else 25
    for i in range(n):
        problem = task.problem(i)
        for question, sol in expand(problem, policy, random.Random(i)):
            assert false_equalities(sol.text) == [], (question, sol.text)
            assert misplaced_spans(sol, problem.dag) == [], sol.text
            assert task.verify(problem, sol.text).correct
            assert sol.text.endswith(f"\\boxed{{{sol.spans('answer')[0].split('{')[1].split('}')[0]}}}.")


def test_spans_tile_the_text() -> None:
    problem = IGSM(10, 12, seed=9).problem(1)
    sol = write_solution(problem, presets.bridge(), random.Random(1))
    rebuilt = " ".join(sol.text[s.start : s.end] for s in sol.steps)
    assert rebuilt == sol.text


def test_exploration_only_after_a_success_and_aims_at_distractors_sometimes() -> None:
    task = IGSM(15, 20, seed=100)
    hit_distractor = False
    for i in range(40):
        p = task.problem(i)
        sol = write_solution(p, presets.bridge(), random.Random(i))
        for j, step in enumerate(sol.steps):
            if step.kind == "explore":
                assert sol.steps[j - 1].kind in ("regular", "early_solve")  # right after a finished computation
                hit_distractor |= step.node in p.dag.distractors
    assert hit_distractor


def test_detailed_computation_writes_one_subgoal_per_operation() -> None:
    task = IGSM(15, 20, seed=100)
    for i in range(10):
        p = task.problem(i)
        sol = write_solution(p, presets.exploit_only(), random.Random(i))
        for nid in p.dag.necessary:
            ops = p.dag.node(nid).num_ops
            n_sub = sum(1 for s in sol.steps if s.kind == "subgoal" and s.node == nid)
            assert n_sub == (ops if ops > 1 else 0)


def test_writer_is_deterministic_given_the_rng() -> None:
    p = IGSM(8, 10, seed=2).problem(3)
    assert write_solution(p, presets.bridge(), random.Random(7)) == write_solution(p, presets.bridge(), random.Random(7))
