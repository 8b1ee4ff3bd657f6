"""iGSM generator: determinism, promised ranges, solvable statements, oracle vs corrupted answers."""

from __future__ import annotations

import functools
import random
import re
from collections import Counter

import pytest

from bilight.dag import Const
from bilight.injection import presets, write_solution
from bilight.tasks import IGSM
from bilight.tasks.igsm import op_cost
from bilight.types import Problem

SMALL = IGSM()
HARD = IGSM(min_ops=15, max_ops=20, seed=100)
HARD_REF = IGSM(min_ops=15, max_ops=20, seed=100, style="reference")


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


@pytest.mark.parametrize("task", [SMALL, IGSM(4, 6, seed=3), HARD, HARD_REF], ids=repr)
def test_ranges_and_structure(task: IGSM) -> None:
    for p in hard_problems()[:60] if task is HARD else map(task.problem, range(60 if task is HARD_REF else 200)):
        p.dag.check()
        needed = [p.dag.node(n) for n in p.dag.necessary]
        assert task.min_ops <= p.difficulty == sum(op_cost(n) for n in needed) <= task.max_ops
        assert sum(n.num_ops for n in needed) <= p.difficulty  # constants and copies are charged one operation each
        assert abs(int(p.answer)) < task.bound
        assert p.query.startswith("Question: What is" if task.style == "compact" else "How many") and p.question.endswith(p.query)
        stated = [n for n in p.dag.nodes if n.id.startswith("i:")]
        assert all(n.stated == n.id.startswith("i:") for n in p.dag.nodes)
        assert all(n.num_parents <= 4 for n in stated)  # at most four inputs, a stated number counted
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


def test_styles_share_one_dag() -> None:
    for i in range(20):
        compact, reference = HARD.problem(i), HARD_REF.problem(i)
        assert [(n.id, n.expr, n.value) for n in compact.dag.nodes] == [(n.id, n.expr, n.value) for n in reference.dag.nodes]
        assert compact.dag.target == reference.dag.target and compact.difficulty == reference.difficulty
        assert len(reference.question) > len(compact.question)
        assert reference.conditions[0].startswith("The number of each ") and " equals " in reference.conditions[0]


def test_small_settings_stay_small() -> None:
    problems = [SMALL.problem(i) for i in range(500)]
    assert max(len(p.dag.necessary) for p in problems) <= 4
    assert {p.difficulty for p in problems} == {1, 2, 3}
    assert max(len(p.dag.distractors) for p in map(IGSM(max_distractors=1).problem, range(100))) <= 2  # one stated + its implied input


def test_oracle_verifies_and_corrupted_answer_fails() -> None:
    for i in range(20):
        p = SMALL.problem(i)
        sol = write_solution(p, presets.bridge(), random.Random(i))
        assert SMALL.verify(p, sol.text).correct
        assert not SMALL.verify(p, sol.text.replace(f"\\boxed{{{p.answer}}}", f"\\boxed{{{int(p.answer) + 1}}}")).correct
        assert not SMALL.verify(p, "no box here").correct


@pytest.mark.parametrize("task", [SMALL, HARD, HARD_REF], ids=repr)
def test_vocabulary_covers_every_word_written(task: IGSM) -> None:
    from bilight.injection.writer import VOCABULARY

    words = set(re.findall(r"[A-Za-z]+", " ".join([*task.vocabulary(), VOCABULARY])))
    for i in range(30):
        p = task.problem(i)
        for policy in (presets.bridge(task.style), presets.vanilla(task.style)):
            text = p.question + " " + write_solution(p, policy, random.Random(i)).text
            # single letters are the writer's variables (the tokenizer has every letter)
            assert {w for w in re.findall(r"[A-Za-z]+", text) if len(w) > 1} <= words


def test_task_tokenizer_has_no_unknown_piece_in_the_reference_wording() -> None:
    from bilight.data.tokenizer import build_task_tokenizer
    from bilight.injection.writer import VOCABULARY

    tokenizer = build_task_tokenizer([*HARD_REF.vocabulary(), VOCABULARY])
    unk = tokenizer.unk_token_id
    for i in range(200):
        p = HARD_REF.problem(i)
        text = p.question + "\n" + write_solution(p, presets.bridge("reference"), random.Random(i)).text
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        assert unk not in ids, [tokenizer.decode([t]) for t in ids if t == unk]


def test_bad_arguments_raise() -> None:
    with pytest.raises(ValueError, match="min_ops"):
        IGSM(5, 3)
    with pytest.raises(ValueError, match="answer_mix"):
        IGSM(answer_mix=(0.5, 0.5, 0.5))
    with pytest.raises(ValueError, match="style"):
        IGSM(style="fancy")
    with pytest.raises(AttributeError, match="no field"):
        SMALL.replace(nope=1)
