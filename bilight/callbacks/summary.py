"""End-of-run artefacts: a short results table, and the model exported for plain transformers.

`FitSummary` prints (rank zero) and saves as ``summary.json`` next to the logs: greedy
accuracy in and out of distribution, the last training loss, tokens per second, and where the
checkpoints, logs and exported model are. `ExportHF` writes ``save_pretrained`` output (LoRA
merged) plus the tokenizer at the end of fit, loadable with ``AutoModelForCausalLM``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities import rank_zero_only
from matplotlib.figure import Figure
from typing_extensions import override

from bilight.system import peak_rss_gb

METRICS = ("val/acc_id", "val/acc_ood", "val/loss", "train/loss", "train/tokens_per_sec", "rollout/acc", "rollout/reward_mean")


def run_dir(trainer: L.Trainer) -> Path:
    """The run's folder: the first logger's log_dir, else the trainer's root dir."""
    if trainer.loggers and trainer.loggers[0].log_dir is not None:
        return Path(trainer.loggers[0].log_dir)
    return Path(trainer.default_root_dir)


def save_figure(trainer: L.Trainer, fig: Figure, path: Path, tag: str) -> None:
    """Write ``fig`` to ``path`` and add it to every TensorBoard logger under ``tag`` at the current step."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    for logger in trainer.loggers:
        if isinstance(logger, TensorBoardLogger):
            logger.experiment.add_figure(tag, fig, global_step=trainer.global_step, close=False)


class ExportHF(L.Callback):
    """Export the trained model and tokenizer with ``save_pretrained`` when fit ends.

    Args:
        dirname: folder name inside the run folder.
    """

    def __init__(self, dirname: str = "hf_model") -> None:
        self.dirname = dirname
        self.path: Path | None = None

    @override
    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.path = run_dir(trainer) / self.dirname
        if trainer.is_global_zero:
            pl_module.export(str(self.path))  # type: ignore[operator]


class FitSummary(L.Callback):
    """Print and save the run's headline numbers when fit (or validate/test) ends."""

    def __init__(self) -> None:
        self.rows: dict[str, Any] = {}

    def collect(self, trainer: L.Trainer) -> dict[str, Any]:
        rows: dict[str, Any] = {k: round(float(v), 4) for k, v in trainer.callback_metrics.items() if k in METRICS}
        rows["global_step"] = trainer.global_step
        rows["peak_rss_gb"] = peak_rss_gb()  # this process's high-water mark, imports and data included
        rows["run_dir"] = str(run_dir(trainer))
        ckpt = trainer.checkpoint_callback
        if ckpt is not None and getattr(ckpt, "dirpath", None):
            rows["checkpoints"] = str(ckpt.dirpath)  # type: ignore[attr-defined]
        exports = [cb.path for cb in trainer.callbacks if isinstance(cb, ExportHF) and cb.path is not None]  # type: ignore[attr-defined]
        if exports:
            rows["exported_model"] = str(exports[0])
        return rows

    @rank_zero_only
    def report(self, trainer: L.Trainer) -> None:
        self.rows = self.collect(trainer)
        width = max(len(k) for k in self.rows)
        lines = ["", "bilight results", "-" * (width + 40)] + [f"{k:<{width}}  {v}" for k, v in self.rows.items()]
        print("\n".join(lines), flush=True)
        out = run_dir(trainer)
        out.mkdir(parents=True, exist_ok=True)
        (out / "summary.json").write_text(json.dumps(self.rows, indent=2))

    @override
    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.report(trainer)

    @override
    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.state.fn in ("validate", "test"):
            self.report(trainer)

    @override
    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.report(trainer)
