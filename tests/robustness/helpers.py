"""Run the bilight command line in a scratch folder (in-process or as a real process) and read what it printed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from bilight.cli import main

ROOT = Path(__file__).resolve().parents[2]
SFT = "configs/sft/igsm_tiny_bridge.yaml"
GRPO = "configs/grpo/igsm_tiny_bridge.yaml"
SMOKE = "configs/debug/smoke.yaml"
TINY = "tests/robustness/tiny.yaml"
MAX_ERROR_LINES = 8


def scratch(tmp_path: Path) -> Path:
    """A working folder where ``configs/`` and ``tests/`` resolve as in the repository (runs/ is written there)."""
    for name in ("configs", "tests"):
        link = tmp_path / name
        if not link.exists():
            link.symlink_to(ROOT / name)
    return tmp_path


def run_main(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """``bilight ARGS`` in-process: (exit status, the error message from ``bilight: error:`` on)."""
    try:
        main(args)
        code = 0
    except SystemExit as stop:
        code = int(stop.code or 0)
    err = capsys.readouterr().err
    return code, err[err.find("bilight: error:") :] if "bilight: error:" in err else err


def run_process(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``python -m bilight ARGS`` as a real process in ``cwd``."""
    full_env = {k: v for k, v in os.environ.items() if k != "BILIGHT_DEBUG"}
    full_env.update({"OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false", "PYTHONPATH": str(ROOT), **env})
    cmd = [sys.executable, "-m", "bilight", *args]
    return subprocess.run(cmd, cwd=cwd, env=full_env, capture_output=True, text=True, timeout=600)


def crafted_checkpoint(path: Path, marker: Path) -> Path:
    """A checkpoint-looking file whose unpickling would create ``marker``."""
    torch.save({"state_dict": {}, "global_step": 0, "payload": _Touch(str(marker))}, path)
    return path


class _Touch:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))
