"""Uninterrupted reference runs, shared by the resume and distributed tests of this folder."""

from pathlib import Path

import pytest

from tests.resume.runs import DDP_CPU, fit


@pytest.fixture(scope="session")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One process, global batch 4, 24 steps, never killed."""
    run_dir = tmp_path_factory.mktemp("uninterrupted")
    fit(run_dir)
    return run_dir


@pytest.fixture(scope="session")
def ddp_reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two DDP processes (Lightning's launcher, gloo) at batch 2 each: the same global batch of 4."""
    run_dir = tmp_path_factory.mktemp("ddp_uninterrupted")
    fit(run_dir, "--config", str(DDP_CPU), "--data.batch_size=2")
    return run_dir
