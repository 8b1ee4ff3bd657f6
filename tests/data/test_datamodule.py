import dataclasses

import pytest

from bilight.data import BilightDataModule
from bilight.tasks import IGSM
from bilight.testing import tiny_datamodule, tiny_task
from bilight.types import Problem


def test_splits_are_deterministic_and_disjoint_seeds() -> None:
    a, b = tiny_datamodule(), tiny_datamodule()
    a.setup("fit")
    b.setup("fit")
    assert a.datasets["train"]["completion"] == b.datasets["train"]["completion"]
    assert set(a.datasets) == {"train", "val_id", "val_ood"}
    assert a.split_task("val_id").seed != a.split_task("train").seed
    assert a.datasets["val_id"]["prompt"] != a.datasets["train"]["prompt"][:8]


def test_oracle_completions_verify() -> None:
    dm = tiny_datamodule()
    dm.setup("validate")
    for split in ("val_id", "val_ood"):
        ds = dm.datasets[split]
        assert all(dm.verify(split, i, c).correct for i, c in zip(ds["index"], ds["completion"], strict=True))
        assert not dm.verify(split, ds["index"][0], "So the answer is \\boxed{100000}.").correct


def test_augmentation_multiplies_rows_and_equalize_steps_restores_them() -> None:
    plain = tiny_datamodule(injection="vanilla")
    aug = tiny_datamodule(injection="answer_aug")
    equal = tiny_datamodule(injection="question_aug", equalize_steps=True)
    for dm in (plain, aug, equal):
        dm.setup("fit")
    assert len(aug.datasets["train"]) == 4 * len(plain.datasets["train"])
    assert len(equal.datasets["train"]) == len(plain.datasets["train"])


def test_cache_is_reused_and_written_whole(tmp_path) -> None:
    first = tiny_datamodule(cache_dir=str(tmp_path))
    first.prepare_data()
    entries = sorted(p.name for p in tmp_path.iterdir())
    kinds = [e.split("-")[0] for e in entries]  # one folder per split and the held-out filter's question digests
    assert kinds == ["questions", "train", "val_id", "val_ood"], entries  # and no temporary file or folder left
    assert entries[0].endswith(".bin") and all((tmp_path / e).is_dir() for e in entries[1:])
    second = tiny_datamodule(cache_dir=str(tmp_path))
    second.setup("fit")
    assert sorted(p.name for p in tmp_path.iterdir()) == entries
    first.setup("fit")
    assert second.datasets["train"]["input_ids"] == first.datasets["train"]["input_ids"]


def test_bad_arguments_fail_clearly() -> None:
    with pytest.raises(ValueError, match="unknown injection preset 'brige'"):
        BilightDataModule(task=tiny_task(), injection="brige")
    with pytest.raises(ValueError, match="prompt_template"):
        BilightDataModule(task=tiny_task(), prompt_template="no placeholder")


def test_cache_is_not_reused_when_the_generator_output_changes(tmp_path, monkeypatch) -> None:
    tiny_datamodule(cache_dir=str(tmp_path)).prepare_data()
    before = {p.name for p in tmp_path.iterdir()}
    original = IGSM.problem

    def changed(self: IGSM, index: int) -> Problem:  # same arguments and repr, different output
        problem = original(self, index)
        return dataclasses.replace(problem, conditions=tuple(reversed(problem.conditions)))

    monkeypatch.setattr(IGSM, "problem", changed)
    dm = tiny_datamodule(cache_dir=str(tmp_path))
    dm.setup("fit")
    assert {p.name for p in tmp_path.iterdir()} - before  # new entries, the stale ones untouched
    assert dm.datasets["train"]["prompt"][0].startswith(dm.problem("train", 0).conditions[0])
