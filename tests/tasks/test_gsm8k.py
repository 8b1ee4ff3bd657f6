"""GSM8K-format rows: DAG extraction from calculator annotations, skipped rows, clear errors."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from bilight.dag import Ref
from bilight.errors import DataError
from bilight.injection import presets, write_solution
from bilight.injection.check import false_equalities, misplaced_spans
from bilight.tasks import GSM8KFormat

ROWS = [
    {
        "question": "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. How many clips did Natalia sell altogether in April and May?",
        "answer": "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\nNatalia sold 48+24 = <<48+24=72>>72 clips altogether in April and May.\n#### 72",
    },
    {
        "question": "Weng earns $12 an hour for babysitting. Yesterday, she did 50 minutes. How much did she earn?",
        "answer": "Weng earns 12/60 = $<<12/60=0.2>>0.2 per minute.\nWorking 50 minutes, she earned 0.2 x 50 = $<<0.2*50=10>>10.\n#### 10",
    },
    {
        "question": "A shop has 3 boxes of 5 pens. It sells 3 pens. Then it doubles its stock. How many pens does it have?",
        "answer": "It has <<3*5=15>>15 pens. After selling, <<15-3=12>>12 remain. A side note: <<2+2=4>>4. Doubled: <<12*2=24>>24.\n#### 24",
    },
    {"question": "Tom has 7 apples. How many?", "answer": "Tom has 7 apples.\n#### 7"},
    {"question": "Ann has 10 cards and splits them in 3 piles. How many per pile?", "answer": "<<10/3=3>>3\n#### 3"},
    {"question": "Bo has 2 cats and buys 2 more. How many cats?", "answer": "<<2+2=5>>5\n#### 5"},
]


def _write_jsonl(path: Path, rows: list[dict[str, str]]) -> str:
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return str(path)


def test_extracts_dags_and_reports_skipped_rows(tmp_path: Path) -> None:
    with pytest.warns(UserWarning, match=r"skipped 4 of 6 rows.*row 2"):
        task = GSM8KFormat(_write_jsonl(tmp_path / "gsm.jsonl", ROWS))
    assert len(task) == 2
    reasons = dict(task.skipped)
    assert sorted(reasons) == [2, 4, 5, 6]
    assert "not an integer" in reasons[2] and "no <<...>>" in reasons[4] and "exact" in reasons[5] and "states 5" in reasons[6]

    natalia = task.problem(0)
    assert natalia.answer == 72 and natalia.query.endswith("in April and May?")
    assert natalia.dag.node("r2").parents == ("r1",)  # 24 is the earlier result: an edge
    shop = task.problem(1)
    assert shop.dag.target == "r4" and shop.dag.distractors == ("r3",)  # 2+2 is not needed for 24
    assert isinstance(shop.dag.node("r2").expr.args[0], Ref)  # type: ignore[union-attr]
    assert task.problem(2) == task.problem(0)  # the stream wraps around


def test_solutions_inject_and_verify(tmp_path: Path) -> None:
    with pytest.warns(UserWarning):
        task = GSM8KFormat(_write_jsonl(tmp_path / "gsm.jsonl", ROWS))
    for i in range(len(task)):
        p = task.problem(i)
        for preset in presets.PRESETS:
            sol = write_solution(p, presets.get(preset), random.Random(i))
            assert task.verify(p, sol.text).correct
            assert false_equalities(sol.text) == [] and misplaced_spans(sol, p.dag) == []
        assert not task.verify(p, f"\\boxed{{{p.answer + 1}}}").correct


def test_reads_parquet(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "gsm.parquet"
    pq.write_table(pa.Table.from_pylist(ROWS[:1] + ROWS[2:3]), path)
    task = GSM8KFormat(str(path))
    assert len(task) == 2 and task.skipped == []
    assert "Natalia" in " ".join(task.vocabulary())


def test_missing_field_names_file_and_row(tmp_path: Path) -> None:
    path = _write_jsonl(tmp_path / "bad.jsonl", [ROWS[0], {"question": "no answer here?"}])
    with pytest.raises(ValueError, match=r"bad.jsonl: row 2 has no 'answer' field"):
        GSM8KFormat(path)


def test_nothing_extractable_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no usable row is left of 1"), pytest.warns(UserWarning):
        GSM8KFormat(_write_jsonl(tmp_path / "none.jsonl", ROWS[3:4]))


def test_missing_file_is_an_error() -> None:
    with pytest.raises(DataError, match=r"no file at /nonexistent/gsm\.jsonl"):
        GSM8KFormat("/nonexistent/gsm.jsonl")
