"""`EvaluationWriter`: what ``bilight test`` and ``bilight predict`` leave on disk, beside the logs.

Why a callback: the logged ``test/acc_id`` is one number, but a before/after claim needs the verdict of every
problem (paired differences, McNemar counts), and ``predict`` exists to give the completions themselves. The
module's ``test_step``/``predict_step`` return per-problem records; this callback gathers them over ranks
(a problem padded in by the distributed sampler counts once) and rank zero writes, in the run folder:

* after ``test``: ``per_problem.jsonl`` (``split``, ``index``, ``greedy`` 0/1, ``samples`` k 0/1 verdicts,
  the greedy answer extracted) and ``test_metrics.json`` (per split: greedy accuracy, avg@k, unbiased pass@k,
  with standard errors, from `bilight.metrics.evaluation.split_metrics`);
* after ``predict``: ``predictions.jsonl`` (``split``, ``index``, ``prompt``, ``completion``, ``predicted``,
  ``answer``, ``correct``).

The CLI adds it to every command (``--evaluation.*`` sets its options).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import lightning as L
import torch
from typing_extensions import override

from bilight.callbacks.summary import run_dir
from bilight.metrics.evaluation import by_split, split_metrics
from bilight.system import write_atomically


def _gather(trainer: L.Trainer, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if trainer.world_size == 1 or not torch.distributed.is_initialized():
        return rows
    gathered: list[Any] = [None] * trainer.world_size
    torch.distributed.all_gather_object(gathered, rows)
    return [row for part in gathered for row in part]


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    write_atomically(path, "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows))


class EvaluationWriter(L.Callback):
    """Save per-problem test results and predictions as JSON lines in the run folder (rank zero).

    Args:
        per_problem: file name of the per-problem test records.
        metrics: file name of the per-split test accuracies.
        predictions: file name of the predicted completions.
    """

    def __init__(
        self, per_problem: str = "per_problem.jsonl", metrics: str = "test_metrics.json", predictions: str = "predictions.jsonl"
    ) -> None:
        self.per_problem, self.metrics, self.predictions = per_problem, metrics, predictions
        self.rows: list[dict[str, Any]] = []
        self.results: dict[str, dict[str, float]] = {}

    @override
    def on_test_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.rows = []

    @override
    def on_test_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        if not isinstance(outputs, dict) or "greedy" not in outputs:
            return
        greedy = outputs["greedy"].tolist()
        samples = outputs["samples"].int().tolist() if "samples" in outputs else [[] for _ in greedy]
        for j, index in enumerate(outputs["index"].tolist()):
            self.rows.append(
                {
                    "split": outputs["split"],
                    "index": index,
                    "greedy": int(greedy[j]),
                    "samples": samples[j],
                    "predicted": outputs["predicted"][j],
                }
            )

    @override
    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        rows = _gather(trainer, self.rows)
        splits = by_split(rows)
        ordered = [dict(splits[s][i]) for s in sorted(splits) for i in sorted(splits[s])]
        self.results = {s: split_metrics([splits[s][i] for i in sorted(splits[s])]) for s in sorted(splits)}
        if trainer.is_global_zero and ordered:
            folder = run_dir(trainer)
            _write_jsonl(folder / self.per_problem, ordered)
            (folder / self.metrics).write_text(json.dumps(self.results, indent=2, sort_keys=True))
            print(f"per-problem results: {folder / self.per_problem}; accuracies: {folder / self.metrics}", flush=True)

    @override
    def on_predict_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.rows = []

    @override
    def on_predict_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        if isinstance(outputs, list):
            self.rows.extend(outputs)

    @override
    def on_predict_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        splits = by_split(_gather(trainer, self.rows))
        ordered = [dict(splits[s][i]) for s in sorted(splits) for i in sorted(splits[s])]
        if trainer.is_global_zero and ordered:
            path = run_dir(trainer) / self.predictions
            _write_jsonl(path, ordered)
            print(f"predictions: {path} ({len(ordered)} problems)", flush=True)
