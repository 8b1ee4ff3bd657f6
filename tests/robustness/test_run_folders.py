"""Run folders are never clobbered: `bilight.runs` decides from the files on disk (no training here)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from bilight.errors import ConfigError
from bilight.runs import holds_run, plan_eval, plan_fit


def _run(folder: Path, step: int | None = 4, **files: str) -> Path:
    """A finished-looking run folder: metrics.csv, and checkpoints/last.ckpt at ``step``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "metrics.csv").write_text("step,train/loss\n0,1.0\n")
    if step is not None:
        (folder / "checkpoints").mkdir(exist_ok=True)
        torch.save({"global_step": step, "state_dict": {}}, folder / "checkpoints" / "last.ckpt")
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder


def test_a_folder_holds_a_run_when_it_has_logs_checkpoints_or_an_export(tmp_path: Path) -> None:
    assert not holds_run(tmp_path / "absent")
    (tmp_path / "empty").mkdir()
    assert not holds_run(tmp_path / "empty")
    (tmp_path / "config_only").mkdir()
    (tmp_path / "config_only" / "config.yaml").write_text("{}")
    assert not holds_run(tmp_path / "config_only")  # a run that died while starting: nothing to keep
    assert holds_run(_run(tmp_path / "run", step=None))
    (tmp_path / "tb").mkdir()
    (tmp_path / "tb" / "events.out.tfevents.1.host.2.0").write_bytes(b"")
    assert holds_run(tmp_path / "tb")


def test_fresh_fit_takes_the_named_folder_then_the_next_free_version(tmp_path: Path) -> None:
    base = tmp_path / "runs" / "sft" / "x"
    assert plan_fit(base, None, reuse=False, max_steps=4).folder == base
    _run(base)
    plan = plan_fit(base, None, reuse=False, max_steps=4)
    assert plan.folder == base.with_name("x-v1")
    assert plan.message == f"{base} holds an earlier run; this run writes to {base.with_name('x-v1')}"
    _run(base.with_name("x-v1"))
    (base.with_name("x-v2")).mkdir()  # created by another rank's plan: still free
    assert plan_fit(base, None, reuse=False, max_steps=4).folder == base.with_name("x-v2")


def test_reuse_is_explicit(tmp_path: Path) -> None:
    base = _run(tmp_path / "x")
    plan = plan_fit(base, None, reuse=True, max_steps=4)
    assert plan.folder == base and "reusing the folder" in plan.message


def test_last_resumes_the_newest_run_of_that_name(tmp_path: Path) -> None:
    base = _run(tmp_path / "x", step=4)
    newer = _run(tmp_path / "x-v1", step=2)
    plan = plan_fit(base, "last", reuse=False, max_steps=4)
    assert plan.folder == newer and plan.ckpt_path == str(newer / "checkpoints" / "last.ckpt") and not plan.finished
    assert plan.message == f"resuming {newer} from {newer / 'checkpoints' / 'last.ckpt'} (step 2)"


def test_last_of_a_finished_run_trains_nothing(tmp_path: Path) -> None:
    base = _run(tmp_path / "x", step=4)
    plan = plan_fit(base, "last", reuse=False, max_steps=4)
    assert plan.finished and "already finished" in plan.message and "nothing to train" in plan.message


def test_last_without_a_checkpoint_starts_fresh_in_a_new_folder(tmp_path: Path) -> None:
    assert plan_fit(tmp_path / "x", "last", reuse=False, max_steps=4) == plan_fit(tmp_path / "x", None, reuse=False, max_steps=4)
    base = _run(tmp_path / "x", step=None)  # killed before its first checkpoint
    plan = plan_fit(base, "last", reuse=False, max_steps=4)
    assert plan.folder == tmp_path / "x-v1" and plan.ckpt_path is None


def test_explicit_checkpoint_resumes_in_its_own_folder_or_starts_a_new_run(tmp_path: Path) -> None:
    base = _run(tmp_path / "x", step=2)
    ckpt = str(base / "checkpoints" / "last.ckpt")
    assert plan_fit(base, ckpt, reuse=False, max_steps=4).folder == base
    elsewhere = _run(tmp_path / "other", step=2) / "checkpoints" / "last.ckpt"
    plan = plan_fit(base, str(elsewhere), reuse=False, max_steps=4)
    assert plan.folder == tmp_path / "x-v1" and plan.ckpt_path == str(elsewhere)


def test_evaluation_writes_beside_the_checkpoint_in_numbered_folders(tmp_path: Path) -> None:
    base = _run(tmp_path / "x", step=4)
    ckpt = str(base / "checkpoints" / "last.ckpt")
    first = plan_eval("validate", tmp_path / "configured", ckpt)
    assert first.folder == base / "eval" / "validate-0" and first.ckpt_path == ckpt
    first.folder.mkdir(parents=True)
    assert plan_eval("validate", tmp_path / "configured", ckpt).folder == base / "eval" / "validate-1"
    assert plan_eval("test", base, "last").folder == base / "eval" / "test-0"
    hpc = base / "hpc_ckpt_3.ckpt"
    hpc.write_bytes(b"")
    assert plan_eval("test", tmp_path / "c", str(hpc)).folder == base / "eval" / "test-0"
    assert plan_eval("validate", base, None).folder == base / "eval" / "validate-1"  # no checkpoint: the configured run


def test_evaluating_last_without_any_checkpoint_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"--ckpt_path: no checkpoint found under .*x \(given: 'last'\); train first"):
        plan_eval("validate", tmp_path / "x", "last")
