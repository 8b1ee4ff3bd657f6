"""`ResumableCSVLogger`: a resumed run keeps writing the same ``metrics.csv``.

Lightning's ``CSVLogger`` deletes an existing ``metrics.csv`` when it starts in a non-empty
folder, so resuming in the run's folder (`bilight.runs`) would erase the history of the interrupted run.
This logger keeps the file: rows from before the first step the resumed run logs stay, rows
from later steps (written after the checkpoint, about to be replayed) go, so every step appears
once. It also flushes when a checkpoint is saved, so the rows up to a checkpoint are on disk
with it.
"""

from __future__ import annotations

import csv
import io
import os
from typing import Any

from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter
from typing_extensions import override

from bilight.system import write_atomically


class _ContinuingWriter(ExperimentWriter):
    @override
    def _check_log_dir_exists(self) -> None:
        self._previous: list[dict[str, str]] | None = None
        if os.path.isfile(self.metrics_file_path):
            with open(self.metrics_file_path, newline="") as f:
                reader = csv.DictReader(f)
                self._previous = list(reader)
                self.metrics_keys = list(reader.fieldnames or [])

    @override
    def save(self) -> None:
        if self._previous is not None and self.metrics:
            first = min(int(m["step"]) for m in self.metrics)
            kept = [row for row in self._previous if row.get("step") and int(float(row["step"])) < first]
            text = io.StringIO(newline="")
            writer = csv.DictWriter(text, fieldnames=self.metrics_keys)
            writer.writeheader()
            writer.writerows(kept)
            write_atomically(self.metrics_file_path, text.getvalue())
            self._previous = None
        super().save()


class ResumableCSVLogger(CSVLogger):
    """``CSVLogger`` that continues an existing ``metrics.csv`` instead of deleting it; same arguments."""

    @property
    @override
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _ContinuingWriter(log_dir=self.log_dir)
        return self._experiment  # type: ignore[return-value]

    @override
    def after_save_checkpoint(self, checkpoint_callback: Any) -> None:
        self.save()
