"""GSM8K-format data faults: each a `DataError` naming the file and row, or a counted warning."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bilight.errors import DataError
from bilight.tasks import GSM8KFormat

GOOD = {
    "question": "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. How many clips did Natalia sell?",
    "answer": "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\nAltogether 48+24 = <<48+24=72>>72 clips.\n#### 72",
}
OTHER = {"question": "Bo has 2 cats and buys 3 more. How many cats?", "answer": "<<2+3=5>>5\n#### 5"}


def _jsonl(tmp_path: Path, rows: list[object], name: str = "data.jsonl") -> str:
    path = tmp_path / name
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(
        DataError, match=r"data.task.init_args.path: no file at .*nope.jsonl; give the path of a .jsonl/.json/.parquet file"
    ):
        GSM8KFormat(str(tmp_path / "nope.jsonl"))


def test_empty_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"empty.jsonl: the file has no rows"):
        GSM8KFormat(_jsonl(tmp_path, [], "empty.jsonl"))


def test_row_without_a_needed_field(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"data.jsonl: row 2 has no 'answer' field"):
        GSM8KFormat(_jsonl(tmp_path, [GOOD, {"question": "What?"}]))
    with pytest.raises(DataError, match=r"data.jsonl: row 1 has no 'question' field"):
        GSM8KFormat(_jsonl(tmp_path, [{"question": "   ", "answer": "#### 1"}]))


def test_invalid_json_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.jsonl"
    path.write_text(json.dumps(GOOD) + "\n{not json\n")
    with pytest.raises(DataError, match=r"broken.jsonl: line 2 is not valid JSON"):
        GSM8KFormat(str(path))
    (tmp_path / "list.json").write_text('{"question": "a dict, not a list"}')
    with pytest.raises(DataError, match=r"a \.json file holds a list of them"):
        GSM8KFormat(str(tmp_path / "list.json"))


def test_non_integer_answers_are_skipped_and_counted(tmp_path: Path) -> None:
    decimal = {"question": "Half of 5?", "answer": "<<5/2=2.5>>2.5\n#### 2.5"}
    with pytest.warns(UserWarning, match=r"skipped 1 of 2 rows: row 2 \('2.5' is not an integer\)"):
        task = GSM8KFormat(_jsonl(tmp_path, [GOOD, decimal]))
    assert len(task) == 1 and task.skipped == [(2, "'2.5' is not an integer")]


def test_duplicate_rows_are_skipped_and_counted(tmp_path: Path) -> None:
    with pytest.warns(UserWarning, match=r"skipped 2 of 4 rows: row 3 \(duplicate of row 1\), row 4 \(duplicate of row 2\)"):
        task = GSM8KFormat(_jsonl(tmp_path, [GOOD, OTHER, GOOD, OTHER]))
    assert len(task) == 2


@pytest.mark.parametrize("too_long", ["skip", "truncate", "error"])
def test_questions_longer_than_the_budget(tmp_path: Path, too_long: str) -> None:
    path = _jsonl(tmp_path, [GOOD, OTHER])  # OTHER's question has 12 pieces (digits count one each), GOOD's 30
    if too_long == "error":
        with pytest.raises(
            DataError, match=r"row 1 has a question of \d+ tokens, more than max_question_tokens=16; raise it, or set too_long"
        ):
            GSM8KFormat(path, max_question_tokens=16, too_long="error")
        return
    with pytest.warns(
        UserWarning, match="truncated 1 of 2 questions" if too_long == "truncate" else r"skipped 1 of 2 rows: row 1 \(question of"
    ):
        task = GSM8KFormat(path, max_question_tokens=16, too_long=too_long)  # type: ignore[arg-type]
    if too_long == "skip":
        assert len(task) == 1 and task.problem(0).answer == 5
    else:
        assert len(task) == 2 and task.truncated == [1]
        assert task.problem(0).question.endswith("How many clips did Natalia sell?")  # the query is kept, the start cut


def test_nothing_left_after_filtering_is_an_error_with_the_reasons(tmp_path: Path) -> None:
    rows = [{"question": f"Q {i}?", "answer": "no annotations\n#### 3"} for i in range(3)]
    with pytest.raises(DataError, match=r"no usable row is left of 3 \(3 skipped: 3 x no <<...>> annotations\)"), pytest.warns(UserWarning):
        GSM8KFormat(_jsonl(tmp_path, rows))
