"""DyVal tasks: determinism, ranges, oracle vs corrupted answers, and answers checked independently."""

from __future__ import annotations

import random
import re

import pytest

from bilight.injection import presets, write_solution
from bilight.tasks import DyVal
from bilight.tasks.dyval import KINDS, NAMES


@pytest.mark.parametrize("kind", KINDS)
def test_deterministic_and_in_range(kind: str) -> None:
    task = DyVal(kind, min_nodes=3, max_nodes=9, seed=5)  # type: ignore[arg-type]
    assert task.problem(4) == DyVal(kind, min_nodes=3, max_nodes=9, seed=5).problem(4)  # type: ignore[arg-type]
    assert task.replace(seed=6).problem(4) != task.problem(4)
    answers = set()
    for i in range(100):
        p = task.problem(i)
        p.dag.check()
        answers.add(p.answer)
        assert p.task == f"dyval_{kind}" and p.difficulty == p.dag.num_ops
        names = set(re.findall(r"[A-Z][a-z]+", p.question)) & set(NAMES)
        assert len(names) <= 9
        if isinstance(p.answer, bool):
            assert kind in ("boolean", "deductive", "reachability")
        else:
            assert abs(p.answer) < task.bound
    assert len(answers) > 1


@pytest.mark.parametrize("kind", KINDS)
def test_oracle_verifies_and_corrupted_fails(kind: str) -> None:
    task = DyVal(kind, seed=1)  # type: ignore[arg-type]
    for i in range(20):
        p = task.problem(i)
        sol = write_solution(p, presets.bridge(), random.Random(i))
        assert task.verify(p, sol.text).correct
        wrong = (not p.answer) if isinstance(p.answer, bool) else p.answer + 1
        assert not task.verify(p, f"So the answer is \\boxed{{{wrong}}}.").correct


def _edges(question: str) -> list[tuple[str, str]]:
    return re.findall(r"There is an edge from (\w+) to (\w+)\.", question)


def test_reachability_answer_matches_a_graph_search() -> None:
    task = DyVal("reachability", 4, 12, seed=2)
    for i in range(100):
        p = task.problem(i)
        source, target = re.search(r"path from (\w+) to (\w+)\?", p.query).groups()  # type: ignore[union-attr]
        seen, stack = set(), [source]
        while stack:
            x = stack.pop()
            if x not in seen:
                seen.add(x)
                stack += [b for a, b in _edges(p.question) if a == x]
        assert p.answer == (target in seen)


def _best(x: str, target: str, weight: dict[str, int], edges: list[tuple[str, str]]) -> int | None:
    """Largest weight of a path from ``x`` to ``target`` by plain enumeration (None: no path)."""
    if x == target:
        return weight[x]
    options = [b for b in (_best(y, target, weight, edges) for a, y in edges if a == x) if b is not None]
    return weight[x] + max(options) if options else None


def test_max_sum_path_answer_matches_enumeration() -> None:
    task = DyVal("max_sum_path", 4, 10, seed=3)
    for i in range(100):
        p = task.problem(i)
        source, target = re.search(r"path from (\w+) to (\w+)\?", p.query).groups()  # type: ignore[union-attr]
        weight = {x: int(w) for x, w in re.findall(r"(\w+) has weight (\d+)\.", p.question)}
        edges = _edges(p.question)

        assert _best(source, target, weight, edges) == p.answer


def test_vocabulary_covers_questions_and_solutions() -> None:
    from bilight.injection.writer import VOCABULARY

    for kind in KINDS:
        task = DyVal(kind, seed=0)  # type: ignore[arg-type]
        words = set(re.findall(r"[A-Za-z]+", " ".join([*task.vocabulary(), VOCABULARY])))
        for i in range(30):
            p = task.problem(i)
            text = p.question + " " + write_solution(p, presets.bridge(), random.Random(i)).text
            assert {w for w in re.findall(r"[A-Za-z]+", text) if len(w) > 1 or w.isupper()} <= words | {"boxed"}


def test_bad_arguments_raise() -> None:
    with pytest.raises(ValueError, match="unknown kind"):
        DyVal("calculus")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="min_nodes"):
        DyVal(min_nodes=5, max_nodes=40)
