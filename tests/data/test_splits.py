"""Held-out splits are disjoint from training by content, for every task; file splits are disjoint rows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bilight.data import BilightDataModule
from bilight.tasks import IGSM, DyVal, GSM8KFormat, Task
from bilight.tasks.base import SEED_OFFSETS

HELD_OUT = ("val_id", "rl", "probe", "test")
SIZES = {"num_train": 300, "num_val": 40, "num_rl": 120, "num_probe": 16, "num_test": 40}


def _gsm8k(tmp_path: Path) -> GSM8KFormat:
    rows = [
        {"question": f"Ann has {a} pens and buys {b} more. How many pens?", "answer": f"<<{a}+{b}={a + b}>>{a + b}\n#### {a + b}"}
        for a in range(1, 41)
        for b in range(1, 41)
    ]
    path = tmp_path / "rows.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    return GSM8KFormat(str(path))


def _tasks(tmp_path: Path) -> dict[str, Task]:
    tasks: dict[str, Task] = {"igsm": IGSM(min_ops=1, max_ops=2, max_distractors=0)}
    for kind in ("arithmetic", "boolean", "deductive", "reachability", "max_sum_path"):
        tasks[f"dyval_{kind}"] = DyVal(kind=kind, min_nodes=3, max_nodes=4)  # type: ignore[arg-type]
    tasks["gsm8k"] = _gsm8k(tmp_path)
    return tasks


@pytest.mark.parametrize(
    "name", ["igsm", "dyval_arithmetic", "dyval_boolean", "dyval_deductive", "dyval_reachability", "dyval_max_sum_path", "gsm8k"]
)
def test_no_held_out_problem_is_a_training_problem(name: str, tmp_path: Path) -> None:
    task = _tasks(tmp_path)[name]
    dm = BilightDataModule(task=task, cache_dir=None, **SIZES)  # type: ignore[arg-type]
    train = {dm.judge.problem("train", i).question for i in range(SIZES["num_train"])}
    for split in HELD_OUT:
        held = [dm.judge.problem(split, i).question for i in range(dm.split_size(split))]
        assert len(held) == dm.split_size(split)
        assert not train & set(held), f"{name}: {split} shares questions with train"


def test_the_content_filter_is_what_makes_small_tasks_disjoint() -> None:
    """Small DyVal problems collide across seeds: the plain seed shift is not enough, the held-out split skips them."""
    task = DyVal(kind="arithmetic", min_nodes=2, max_nodes=2, max_const=3)
    train = {task.problem(i).question for i in range(300)}
    shifted = task.split("val_id")
    assert shifted.seed == task.seed + SEED_OFFSETS["val_id"]
    assert sum(shifted.problem(i).question in train for i in range(100)) == 2  # collisions exist ...
    dm = BilightDataModule(task=task, cache_dir=None, **(SIZES | {"num_val": 100}))
    held = [dm.judge.problem("val_id", i) for i in range(100)]
    assert not any(p.question in train for p in held)  # ... and are skipped
    assert held[-1].index == 101  # two problems skipped, the rest of the stream unchanged


def test_generator_splits_are_seed_shifts_that_keep_existing_numbers() -> None:
    task = IGSM(min_ops=1, max_ops=3, seed=5)
    assert task.split("train").problem(3) == task.problem(3)
    assert task.split("rl").problem(0) == IGSM(min_ops=1, max_ops=3, seed=5 + 2_000_003).problem(0)
    with pytest.raises(ValueError, match="unknown split 'dev'"):
        task.split("dev")  # type: ignore[arg-type]


def test_file_splits_are_disjoint_rows_read_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import bilight.tasks.gsm8k as gsm8k

    task = _gsm8k(tmp_path)
    reads: list[str] = []
    monkeypatch.setattr(gsm8k, "_read_rows", lambda *a: reads.append("read") or [])
    parts = {name: task.split(name) for name in ("train", "val_id", "rl", "probe", "test")}
    assert reads == []  # splitting never re-reads the file
    rows = {name: {p.problem(i).index for i in range(len(p))} for name, p in parts.items()}
    assert sum(len(r) for r in rows.values()) == len(task) == 1600
    assert len(rows["val_id"]) == 160 and len(rows["probe"]) == 32
    for a in rows:
        for b in rows:
            assert a == b or not rows[a] & rows[b]
    with pytest.raises(IndexError, match="the val_id split has 160 rows"):
        parts["val_id"].problem(160)


def test_too_few_rows_is_a_clear_error(tmp_path: Path) -> None:
    task = _gsm8k(tmp_path)
    small = GSM8KFormat(task.path, limit=20)
    with pytest.raises(ValueError, match="the probe split gets 0 of 20 extractable rows"):
        small.split("probe")


def test_training_questions_are_cached_on_disk_and_rebuilt_when_broken(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bilight.tasks.base import Questions

    train = IGSM(1, 2, seed=0).split("train")
    first = Questions(train, 50, tmp_path)
    questions = [train.problem(i).question for i in range(50)]
    other = IGSM(1, 2, seed=0).split("test").problem(0).question
    assert questions[7] in first and (other in first) == (other in questions)
    (cached,) = tmp_path.glob("questions-*.bin")
    assert cached.stat().st_size == 16 * 50
    built = []
    real = IGSM.problem
    monkeypatch.setattr(IGSM, "problem", lambda self, i: built.append(i) or real(self, i))
    again = Questions(train, 50, tmp_path)
    assert questions[49] in again and "not a question" not in again
    assert len(built) == 3  # the three key questions, not the 50 problems
    cached.write_bytes(b"short")  # a truncated file is rebuilt, not trusted
    built.clear()
    assert questions[0] in Questions(train, 50, tmp_path) and len(built) == 53 and cached.stat().st_size == 800
    assert Questions(train.replace(max_ops=3), 50, tmp_path)._path() != cached  # another task, another file
