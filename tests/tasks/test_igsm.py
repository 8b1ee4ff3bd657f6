"""iGSM generator: determinism, promised ranges, solvable statements, oracle vs corrupted answers."""

from __future__ import annotations

import functools
import random
import re
import time
from collections import Counter

import pytest

from bilight.dag import Const
from bilight.injection import presets, write_solution
from bilight.injection.stats import problem_stats
from bilight.tasks import IGSM
from bilight.types import Problem

SMALL = IGSM()
HARD = IGSM(min_ops=15, max_ops=20, seed=100)


@functools.cache
def hard_problems() -> list[Problem]:
    return [HARD.problem(i) for i in range(300)]


@pytest.mark.parametrize("task", [SMALL, IGSM(4, 6, seed=3), HARD], ids=repr)
def test_deterministic_in_seed_and_index(task: IGSM) -> None:
    assert task.problem(7) == task.problem(7)
    assert task.replace(seed=task.seed + 1).problem(7) != task.problem(7)
    assert [task.problem(i).question for i in (3, 1, 2)] == [
        IGSM(task.min_ops, task.max_ops, seed=task.seed).problem(i).question for i in (3, 1, 2)
    ]


@pytest.mark.parametrize("task", [SMALL, IGSM(4, 6, seed=3), HARD], ids=repr)
def test_ranges_and_structure(task: IGSM) -> None:
    for p in hard_problems()[:60] if task is HARD else map(task.problem, range(200)):
        p.dag.check()
        assert task.min_ops <= p.difficulty == p.dag.num_ops <= task.max_ops
        assert all(abs(int(node.value)) < task.bound for node in p.dag.nodes)
        assert p.query.startswith("Question: What is") and p.question.endswith(p.query)
        stated = [n for n in p.dag.nodes if n.id.startswith("i:")]
        assert len(p.conditions) == len(stated)  # one sentence per instance quantity, abstract ones never stated
        for node in p.dag.nodes:  # every edge below a used abstract quantity is a stated, necessary quantity
            if node.id.startswith("a:") and node.id in p.dag.necessary:
                assert all(parent in p.dag.necessary for parent in node.parents)


def test_statements_name_their_operands() -> None:
    for p in hard_problems()[:60]:
        by_name = {n.name: n for n in p.dag.nodes}
        for sentence in p.conditions:
            name = sentence.split(" equals ")[0]
            node = by_name[name]
            if isinstance(node.expr, Const):
                assert sentence == f"{name} equals {node.value}."
            else:
                mentioned = set(re.findall(r"[A-Z][a-z]+ per [A-Z][a-z]+", sentence.split(" equals ", 1)[1]))
                assert mentioned == {p.dag.node(x).name for x in node.parents}


def test_op_histogram_is_skewed_low() -> None:
    counts = Counter(p.difficulty for p in hard_problems())
    assert counts[15] > counts[17] > counts[20] and counts[15] > 2.5 * counts[20]


def test_reference_statistics_at_15_to_20_ops() -> None:
    stats = problem_stats(hard_problems())
    assert 0.14 <= stats["zero answers"] <= 0.24
    assert 0.08 <= stats["negative answers"] <= 0.16
    assert 11.0 <= stats["necessary nodes"] <= 14.5
    assert 2.0 <= stats["distractor nodes"] <= 3.0
    assert stats["max |answer|"] < 1000


def test_small_settings_stay_small_and_fast() -> None:
    start = time.perf_counter()
    problems = [SMALL.problem(i) for i in range(500)]
    assert (time.perf_counter() - start) / 500 < 2e-3  # well under 1 ms on an idle core; slack for a busy CI
    assert max(len(p.dag.distractors) for p in problems) <= 2
    assert all(" times the sum" not in p.question and ", " not in p.question for p in problems)  # one-operation formulas


def test_oracle_verifies_and_corrupted_answer_fails() -> None:
    for i in range(20):
        p = SMALL.problem(i)
        sol = write_solution(p, presets.bridge(), random.Random(i))
        assert SMALL.verify(p, sol.text).correct
        assert not SMALL.verify(p, sol.text.replace(f"\\boxed{{{p.answer}}}", f"\\boxed{{{int(p.answer) + 1}}}")).correct
        assert not SMALL.verify(p, "no box here").correct


def test_vocabulary_covers_every_word_written() -> None:
    words = set(re.findall(r"[A-Za-z]+", " ".join(HARD.vocabulary())))
    from bilight.injection.writer import VOCABULARY

    words |= set(re.findall(r"[A-Za-z]+", VOCABULARY))
    for task in (SMALL, HARD):
        for i in range(30):
            p = task.problem(i)
            text = p.question + " " + write_solution(p, presets.bridge(), random.Random(i)).text
            # single lowercase letters are the writer's variables (the tokenizer has every letter)
            assert {w for w in re.findall(r"[A-Za-z]+", text) if len(w) > 1 or w.isupper()} <= words | {"boxed"}


def test_bad_arguments_raise() -> None:
    with pytest.raises(ValueError, match="min_ops"):
        IGSM(5, 3)
    with pytest.raises(ValueError, match="answer_mix"):
        IGSM(answer_mix=(0.5, 0.5, 0.5))
    with pytest.raises(AttributeError, match="no field"):
        SMALL.replace(nope=1)
