"""Overhead of the diagnostic callbacks (RolloutAccuracy + CoInfluence, default settings) on the quickstart SFT run.

The quickstart (configs/sft/igsm_tiny_bridge.yaml) trains 1200 steps and validates every 400; with
configs/callbacks/diagnostics.yaml both callbacks run once per validation, i.e. once per 400 steps.
Timing two whole 400-step runs is slow and, on a CPU shared with other jobs, mostly measures the
neighbours, so this script times both parts *in one process*, under the same load:

1. ``--steps`` quickstart training steps (validation off) with the two callbacks set to fire once,
   after the last step; fit time minus the callbacks' own time gives seconds per training step;
2. the callbacks' time for that one measurement (sampling 64 x 8 + 32 x 8 completions, 256
   per-rollout backward passes, projection, figures).

It prints ``ratio = sum over callbacks of (seconds x runs per fit) / (run_steps x seconds per step)``,
with the runs per fit read from the fragment's schedule (RolloutAccuracy at each of the 3 validations,
CoInfluence once). The real run also spends time in validation (greedy decoding of 1000 problems),
so its ratio is lower still. Start from a trained checkpoint (``--init_from``) so the
completions have realistic lengths; from scratch they run to ``max_new_tokens`` (pessimistic).

Usage: OMP_NUM_THREADS=1 python benchmarks/callback_overhead.py [--init_from CKPT] [--steps 40] [--run_steps 1200] [--val_interval 400]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import lightning as L
import yaml

from bilight.callbacks import CoInfluence, RolloutAccuracy
from bilight.cli import TRAINER_DEFAULTS, BilightCLI
from bilight.data import BilightDataModule
from bilight.modules.common import LMModule

ROOT = Path(__file__).resolve().parents[1]
BASE = ROOT / "configs" / "sft" / "igsm_tiny_bridge.yaml"
DIAGNOSTICS = ROOT / "configs" / "callbacks" / "diagnostics.yaml"


class StepClock(L.Callback):
    """Wall time from the first training batch to the end of training (no startup, data building or sanity check)."""

    def __init__(self) -> None:
        self.start: float | None = None
        self.seconds = 0.0

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch: object, batch_idx: int) -> None:
        if self.start is None:
            self.start = time.perf_counter()

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.seconds = time.perf_counter() - (self.start or time.perf_counter())


def measure(steps: int, init_from: str | None, root: Path) -> tuple[float, dict[str, float]]:
    """Seconds per training step, and seconds inside each callback for one measurement."""
    # The shipped fragment, with both callbacks set to fire once, after the last step.
    fragment = yaml.safe_load(DIAGNOSTICS.read_text())
    for callback in fragment["trainer"]["callbacks+"]:
        if isinstance(callback, dict):
            callback["init_args"].update(every_n_steps=steps, on_validation=False)
    (root / "fragment.yaml").parent.mkdir(parents=True, exist_ok=True)
    (root / "fragment.yaml").write_text(yaml.safe_dump(fragment))
    args = [
        "fit",
        "--config", str(BASE), "--config", str(root / "fragment.yaml"),
        f"--trainer.max_steps={steps}", "--trainer.limit_val_batches=0", "--trainer.num_sanity_val_steps=0",
        f"--trainer.default_root_dir={root}", "--trainer.enable_progress_bar=false",
        "--trainer.logger=lightning.pytorch.loggers.CSVLogger", f"--trainer.logger.save_dir={root}",
        *([f"--model.init_args.init_from={init_from}"] if init_from else []),
    ]  # fmt: skip
    cli = BilightCLI(
        model_class=LMModule, subclass_mode_model=True, datamodule_class=BilightDataModule,
        trainer_defaults=TRAINER_DEFAULTS, args=args[1:], run=False,
    )  # fmt: skip
    trainer, clock = cli.trainer, StepClock()
    trainer.callbacks.insert(0, clock)  # type: ignore[attr-defined]
    trainer.fit(cli.model, datamodule=cli.datamodule)
    total = clock.seconds
    inside = {type(cb).__name__: cb.seconds for cb in trainer.callbacks if isinstance(cb, RolloutAccuracy | CoInfluence)}  # type: ignore[attr-defined]
    return (total - sum(inside.values())) / steps, inside


def runs_per_fit(name: str, run_steps: int, val_interval: int) -> int:
    """How often the shipped fragment's schedule runs callback ``name`` in a ``run_steps``-step fit validating every ``val_interval``."""
    fragment = yaml.safe_load(DIAGNOSTICS.read_text())
    init = next(c["init_args"] for c in fragment["trainer"]["callbacks+"] if isinstance(c, dict) and c["class_path"].endswith(name))
    every = init.get("every_n_steps")
    by_steps = run_steps // every if every else 0
    return by_steps if not init.get("on_validation", True) else max(by_steps, run_steps // val_interval)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--init_from", default=None, help="Lightning checkpoint to start from (e.g. the quickstart's last.ckpt)")
    parser.add_argument("--steps", type=int, default=40, help="training steps timed")
    parser.add_argument("--run_steps", type=int, default=1200, help="steps of the run (quickstart: 1200)")
    parser.add_argument("--val_interval", type=int, default=400, help="steps between validations (quickstart: 400)")
    parser.add_argument("--budget", type=float, default=0.05, help="allowed overhead ratio (target: under 5%% of training time)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        per_step, inside = measure(args.steps, args.init_from, Path(tmp))
    training = per_step * args.run_steps
    added = 0.0
    print(f"training: {per_step:.3f} s/step -> {training:.1f} s for {args.run_steps} steps")
    for name, seconds in inside.items():
        runs = runs_per_fit(name, args.run_steps, args.val_interval)
        added += runs * seconds
        print(f"{name}: {seconds:.1f} s per measurement x {runs} runs")
    ratio = added / training
    print(f"overhead ratio: {ratio:.3f} (budget {args.budget:.2f}) -> {'OK' if ratio <= args.budget else 'OVER BUDGET'}")


if __name__ == "__main__":
    main()
