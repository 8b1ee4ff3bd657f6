"""The dependency-graph construction: exact operation counts, the cost rule, inputs and distractors."""

from __future__ import annotations

import random

import pytest

from bilight.tasks.igsm_graph import CONST, MAX_IN_DEGREE, Drawn, cost, draw


def _draws(n_ops: int, count: int, cap: int | None = None) -> list[Drawn]:
    rng = random.Random(n_ops)
    out = []
    while len(out) < count:
        d = draw(rng, n_ops, cap)
        if d is not None:
            out.append(d)
    return out


def test_cost_charges_constants_copies_and_single_inputs_one_operation() -> None:
    assert [cost(k) for k in range(1, 6)] == [1, 1, 2, 3, 4]


@pytest.mark.parametrize("n_ops", [1, 3, 8, 15, 20])
def test_operation_count_is_exact_and_inputs_come_first(n_ops: int) -> None:
    for d in _draws(n_ops, 40):
        assert d.ops == n_ops == sum(cost(len(d.inputs[q])) for q in d.necessary)
        seen = set()
        for q in [*d.necessary, *d.distractors]:
            assert all(p is CONST or p in seen for p in d.inputs[q]), "an input is defined before its user"
            assert d.inputs[q].count(CONST) <= 1 and len(set(d.inputs[q])) == len(d.inputs[q])
            if q.kind == "instance":
                assert 1 <= len(d.inputs[q]) <= MAX_IN_DEGREE
            seen.add(q)
        users = {p for q in d.necessary for p in d.inputs[q]}
        assert all(q in users for q in d.necessary[:-1])  # every necessary node feeds another; the asked one is last


def test_distractors_are_the_unused_instance_parameters_up_to_the_cap() -> None:
    for d in _draws(6, 40):
        edges = sum(1 for q in d.inputs if q.kind == "instance")
        assert sum(q.kind == "instance" for q in d.distractors) == edges - sum(q.kind == "instance" for q in d.necessary)
    assert all(sum(q.kind == "instance" for q in d.distractors) <= 1 for d in _draws(6, 40, cap=1))


def test_deterministic_given_the_rng() -> None:
    a, b = draw(random.Random(5), 17), draw(random.Random(5), 17)
    assert a is not None and b is not None and (a.necessary, a.distractors, a.inputs) == (b.necessary, b.distractors, b.inputs)
