"""RL-readiness report: the numbers and figures of `RolloutAccuracy` and `CoInfluence` in one markdown file.

Why: the paper's claim is that two properties of an SFT checkpoint predict how much RL will gain,
the spread of per-prompt rollout accuracy (informative mass) and the co-influence K+ - K-. A
practitioner deciding whether to start GRPO from a checkpoint wants both on one page, next to the
greedy accuracy, without training: ``python -m bilight validate --config
configs/diagnose/igsm_tiny.yaml --ckpt_path PATH`` runs both callbacks once and `RLReadinessReport`
writes ``rl_readiness.md`` in the run folder (rank zero), linking the PNG figures saved there, and
``rl_readiness.json`` with the same numbers and the alpha histogram's counts for programs.

`diagnose` does the same from Python (notebooks): a validate run on a module and a data module,
returning the callbacks' results for side-by-side plots.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.loggers import CSVLogger
from typing_extensions import override

from bilight.callbacks.co_influence import CoInfluence, InfluenceResult
from bilight.callbacks.rollout_accuracy import RolloutAccuracy, RolloutResult
from bilight.callbacks.summary import run_dir
from bilight.data.datamodule import BilightDataModule
from bilight.modules.common import LMModule

GREEDY = {"val/acc_id": "greedy accuracy, in distribution (validation split)", "val/acc_ood": "greedy accuracy, out of distribution"}
ROLLOUT = {
    "probe/mean_alpha": "mean alpha (accuracy of one sample)",
    "probe/informative_mass": "informative mass, mean sqrt(alpha (1 - alpha)) (max 0.5)",
    "probe/frac_alpha_0": "prompts with every sample wrong",
    "probe/frac_alpha_1": "prompts with every sample right",
    "probe/greedy_acc": "greedy accuracy on the probe prompts",
    "probe/frac_truncated": "samples cut by max_new_tokens",
}
INFLUENCE = {
    "influence/co_influence": "co-influence E[A (K+ - K-)] over valid pairs",
    "influence/delta_j": "first-order RL gain estimate dJ (per unit learning rate)",
    "influence/k_plus": "K+ term",
    "influence/k_minus": "K- term",
    "influence/num_pairs": "valid ordered prompt pairs (source 0 < alpha < 1)",
}


def _fmt(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{value:.4g}"


def _rows(metrics: Mapping[str, float], names: Mapping[str, str], cos: bool = False) -> list[str]:
    lines = []
    for name, text in names.items():
        if name in metrics:
            extra = f" | {_fmt(metrics.get(name + '_cos'))}" if cos else ""
            lines.append(f"| {text} | `{name}` | {_fmt(metrics[name])}{extra} |")
    return lines


def reading(metrics: Mapping[str, float]) -> list[str]:
    """Plain-language reading of the numbers (what they predict for RL), one bullet each."""
    out: list[str] = []
    mass = metrics.get("probe/informative_mass")
    if mass is not None:
        zero, one = metrics.get("probe/frac_alpha_0", 0.0), metrics.get("probe/frac_alpha_1", 0.0)
        share = max(0.0, 1 - zero - one)
        out.append(
            f"- {share:.0%} of the probe prompts have 0 < alpha < 1 and give GRPO a signal; informative mass {mass:.3f} of at most 0.5."
            + (" Almost nothing to learn from: consider easier prompts or more SFT." if mass < 0.05 else "")
        )
    c = metrics.get("influence/co_influence_cos")
    if c is not None and math.isfinite(c):
        sign = "helps" if c > 0 else "hurts"
        out.append(f"- Co-influence (cosine) {c:.3g}: on average, learning from one prompt's successes {sign} the other prompts.")
    elif "influence/co_influence" in metrics:
        out.append("- Co-influence is undefined: no probe prompt has 0 < alpha < 1.")
    return out


def render_report(
    metrics: Mapping[str, float],
    rollout: RolloutResult | None = None,
    influence: InfluenceResult | None = None,
    figures: Mapping[str, Path] | None = None,
    folder: Path | None = None,
    title: str = "RL readiness",
    context: Mapping[str, Any] | None = None,
) -> str:
    """Markdown of the report; figure links are relative to ``folder`` when given."""
    lines = [f"# {title}", ""]
    lines += [f"- {k}: `{v}`" for k, v in (context or {}).items()]
    lines += ["", "## Numbers", "", "| quantity | metric | value |", "|---|---|---|"]
    lines += _rows(metrics, GREEDY) + _rows(metrics, ROLLOUT)
    lines += [
        f"| unbiased {k.removeprefix('probe/')} | `{k}` | {_fmt(v)} |" for k, v in sorted(metrics.items()) if k.startswith("probe/pass@")
    ]
    if any(k.startswith("influence/") for k in metrics):
        lines += ["", "| co-influence | metric | raw | cosine |", "|---|---|---|---|", *_rows(metrics, INFLUENCE, cos=True)]
    if rollout is not None:
        lines += ["", "## Rollout accuracy by difficulty", "", "| operations | prompts | sampled accuracy |", "|---|---|---|"]
        lines += [f"| {level} | {count} | {acc:.3f} |" for level, (acc, count) in rollout.by_difficulty.items()]
        counts = ", ".join(f"{c}" for c in rollout.histogram.counts.tolist())
        lines += ["", f"Prompts per alpha level 0/N .. N/N: {counts}."]
    if influence is not None:
        lines += ["", f"Co-influence measured on {influence.alpha.numel()} prompts (step {influence.step})."]
    lines += ["", "## Reading", "", *reading(metrics)]
    if figures:
        lines += ["", "## Figures", ""]
        for name, path in figures.items():
            link = path.relative_to(folder) if folder is not None and path.is_relative_to(folder) else path
            lines += [f"![{name}]({link.as_posix()})", ""]
    return "\n".join(lines).rstrip() + "\n"


class RLReadinessReport(L.Callback):
    """Write ``rl_readiness.md`` in the run folder after ``validate`` (and at the end of fit), from the
    `RolloutAccuracy` and `CoInfluence` callbacks of the same trainer and the module's ``val/acc_*``.

    Args:
        filename: report file name inside the run folder.
    """

    def __init__(self, filename: str = "rl_readiness.md") -> None:
        self.filename = filename
        self.path: Path | None = None

    def write(self, trainer: L.Trainer) -> None:
        if not trainer.is_global_zero:
            return
        rollout = next((cb for cb in trainer.callbacks if isinstance(cb, RolloutAccuracy)), None)  # type: ignore[attr-defined]
        influence = next((cb for cb in trainer.callbacks if isinstance(cb, CoInfluence)), None)  # type: ignore[attr-defined]
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if k in GREEDY}
        figures: dict[str, Path] = {}
        for cb in (rollout, influence):
            if cb is not None:
                metrics.update(cb.metrics)
                figures.update(cb.figures)
        folder = run_dir(trainer)
        context = {"checkpoint": trainer.ckpt_path or "(weights in memory)", "global step": trainer.global_step}
        text = render_report(
            metrics, rollout.result if rollout else None, influence.result if influence else None, figures, folder, context=context
        )
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / self.filename
        self.path.write_text(text)
        # the same numbers for programs (the experiment runner reads them): metrics and the alpha histogram counts
        record = {"metrics": metrics, "alpha": rollout.result.histogram.counts.tolist() if rollout and rollout.result else []}
        self.path.with_suffix(".json").write_text(json.dumps(record, indent=2, sort_keys=True))
        print(f"RL-readiness report: {self.path}", flush=True)

    @override
    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.state.fn == "validate":
            self.write(trainer)

    @override
    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.write(trainer)


@dataclass(frozen=True)
class Diagnosis:
    """What `diagnose` returns: the logged numbers, both callbacks' results and the report path."""

    metrics: dict[str, float]
    rollout: RolloutResult | None
    influence: InfluenceResult | None
    report: Path | None


def diagnose(
    module: LMModule,
    datamodule: BilightDataModule,
    out_dir: str | Path,
    rollout: RolloutAccuracy | None = None,
    influence: CoInfluence | None = None,
    limit_val_batches: int | float = 1.0,
) -> Diagnosis:
    """RL-readiness of ``module`` without training: one validate run with both callbacks and the report.

    Args:
        module: an `LMModule` (SFT or GRPO) with the weights to diagnose.
        datamodule: its data module (probe and validation splits); its judge is handed to ``module`` if it has none.
        out_dir: the run folder (report, figures, CSV metrics).
        rollout, influence: configured callbacks (default: their defaults).
        limit_val_batches: validation batches for ``val/acc_*`` (the callbacks always use their full probe set).
    """
    if module._judge is None:
        module._judge = datamodule.judge
    rollout = rollout or RolloutAccuracy()
    influence = influence or CoInfluence()
    report = RLReadinessReport()
    trainer = L.Trainer(
        logger=CSVLogger(str(out_dir), name="", version=""),
        callbacks=[rollout, influence, report],
        limit_val_batches=limit_val_batches,
        enable_progress_bar=False,
        enable_model_summary=False,
        devices=1,
    )
    trainer.validate(module, datamodule=datamodule, verbose=False)
    return diagnosis_of(trainer)


def diagnosis_of(trainer: L.Trainer) -> Diagnosis:
    """Collect a finished run's diagnosis from its callbacks (e.g. ``bilight.cli.run(["validate", ...]).trainer``)."""
    callbacks = trainer.callbacks  # type: ignore[attr-defined]
    rollout = next((cb for cb in callbacks if isinstance(cb, RolloutAccuracy)), None)
    influence = next((cb for cb in callbacks if isinstance(cb, CoInfluence)), None)
    report = next((cb for cb in callbacks if isinstance(cb, RLReadinessReport)), None)
    return Diagnosis(
        metrics={k: float(v) for k, v in trainer.callback_metrics.items()},
        rollout=rollout.result if rollout else None,
        influence=influence.result if influence else None,
        report=report.path if report else None,
    )
