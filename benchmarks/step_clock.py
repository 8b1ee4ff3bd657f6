"""A Lightning callback that writes each training step's wall and CPU seconds and its rollout scalars to a JSON file.

Used by `grpo_vs_commit.py` through ``--trainer.callbacks+=step_clock.StepClock`` (the ``benchmarks`` folder on
``PYTHONPATH``), so that a checkout of any commit is timed by the same code without being changed.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import lightning as L


class StepClock(L.Callback):
    """Per step: ``seconds`` (wall), ``cpu_seconds`` (this process, all threads) and the ``rollout/*`` scalars logged."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)
        self.steps: list[dict[str, float]] = []
        self._wall = self._cpu = 0.0

    def on_train_batch_start(self, *args: Any) -> None:
        self._wall, self._cpu = time.perf_counter(), time.process_time()

    def on_train_batch_end(self, trainer: L.Trainer, *args: Any) -> None:
        record = {"seconds": time.perf_counter() - self._wall, "cpu_seconds": time.process_time() - self._cpu}
        record |= {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("rollout/") and v.numel() == 1}
        self.steps.append(record)
        self.path.write_text(json.dumps(self.steps))
