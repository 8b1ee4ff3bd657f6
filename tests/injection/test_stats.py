"""Parity with the BRIDGE authors' generator: every row of the statistics table within its target."""

from __future__ import annotations

import functools

import pytest

from bilight.injection.stats import REFERENCE, ROWS, measure, moves, table, within
from bilight.tasks import IGSM
from bilight.types import Solution, Step

TARGET_ROWS = [key for key, _, tolerance in ROWS if tolerance]


@functools.cache
def reference_style(n: int) -> dict[str, float]:
    return measure(IGSM(15, 20, seed=100, style="reference"), n)


@pytest.mark.parametrize("key", TARGET_ROWS)
def test_reference_style_at_15_to_20_ops_meets_every_target(key: str) -> None:
    ours = reference_style(400)
    assert within(key, REFERENCE[key], ours[key]), f"{key}: bilight {ours[key]:.4g}, reference {REFERENCE[key]:.4g}"


@pytest.mark.slow
@pytest.mark.parametrize("key", TARGET_ROWS)
def test_reference_style_on_2000_problems_meets_every_target(key: str) -> None:
    ours = reference_style(2000)
    assert within(key, REFERENCE[key], ours[key]), f"{key}: bilight {ours[key]:.4g}, reference {REFERENCE[key]:.4g}"


def test_compact_style_has_the_same_structure_and_shorter_text() -> None:
    compact, ref = measure(IGSM(15, 20, seed=100), 100), measure(IGSM(15, 20, seed=100, style="reference"), 100)
    for key in ("necessary nodes", "constants", "copies", "k=2", "operations written", "distractors", "failed explorations / answer"):
        assert compact[key] == ref[key], key  # one DAG, one injector: only the words differ
    assert compact["question chars"] < 0.8 * ref["question chars"] and compact["bridge answer chars"] < ref["bridge answer chars"]


def test_within_and_the_table() -> None:
    assert within("necessary nodes", 10.0, 10.9) and not within("necessary nodes", 10.0, 11.1)
    assert within("k=1", 0.30, 0.349) and not within("k=1", 0.30, 0.36)
    assert within("max distractors", 13, 2) is None
    text = table(dict(REFERENCE))
    assert text.count("\n") == len(ROWS) + 1 and "OFF" not in text and "| necessary nodes | 12.1" in text


def test_moves_group_spans_by_node() -> None:
    steps = (
        Step("regular", "a", 0, 1),
        Step("explore", "b", 2, 3),
        Step("analysis", "b", 4, 5),
        Step("explore", "b", 6, 7),
        Step("answer", "a", 8, 9),
    )
    assert moves(Solution("x" * 9, steps, 1)) == [{"regular"}, {"explore", "analysis"}]
