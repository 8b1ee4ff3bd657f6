"""Overhead of the diagnostic callbacks (RolloutAccuracy + CoInfluence, default settings) on the quickstart SFT run.

The quickstart (configs/sft/igsm_tiny_bridge.yaml) trains 1200 steps and validates every 400, and
the callbacks run at each validation, so one 400-step segment ending in a validation is the unit:
its overhead ratio is the whole run's. We train that segment twice, without and with
configs/callbacks/diagnostics.yaml (same seed, same steps), and print two ratios:

* wall: (time with - time without) / time without, over the whole fit (noisy on a shared CPU);
* self: seconds spent inside the two callbacks / (fit time with callbacks - those seconds), timed
  in the same process, so less sensitive to other load on the machine.

Usage: OMP_NUM_THREADS=1 python benchmarks/callback_overhead.py [--steps 400] [--budget 0.10]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from bilight.callbacks import CoInfluence, RolloutAccuracy
from bilight.cli import run

ROOT = Path(__file__).resolve().parents[1]
BASE = ROOT / "configs" / "sft" / "igsm_tiny_bridge.yaml"
DIAGNOSTICS = ROOT / "configs" / "callbacks" / "diagnostics.yaml"


def fit_seconds(steps: int, with_callbacks: bool, root: Path) -> tuple[float, float]:
    """Wall seconds of a ``steps``-step quickstart fit with one validation at the end, and seconds inside the callbacks."""
    configs = ["--config", str(BASE), *(["--config", str(DIAGNOSTICS)] if with_callbacks else [])]
    args = [
        "fit",
        *configs,
        f"--trainer.max_steps={steps}",
        f"--trainer.val_check_interval={steps}",
        f"--trainer.default_root_dir={root}",
        "--trainer.enable_progress_bar=false",
        "--trainer.logger=lightning.pytorch.loggers.CSVLogger",
        f"--trainer.logger.save_dir={root}",
    ]
    start = time.perf_counter()
    cli = run(args)
    total = time.perf_counter() - start
    inside = sum(cb.seconds for cb in cli.trainer.callbacks if isinstance(cb, RolloutAccuracy | CoInfluence))  # type: ignore[attr-defined]
    for cb in cli.trainer.callbacks:  # type: ignore[attr-defined]
        if isinstance(cb, RolloutAccuracy | CoInfluence):
            print(f"  {type(cb).__name__}: {cb.seconds:.1f} s", flush=True)
    return total, inside


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=400, help="training steps per run (one validation at the end)")
    parser.add_argument("--budget", type=float, default=0.10, help="allowed overhead ratio")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        without, _ = fit_seconds(args.steps, False, Path(tmp) / "without")
        print(f"without callbacks: {without:.1f} s", flush=True)
        with_cb, inside = fit_seconds(args.steps, True, Path(tmp) / "with")
        print(f"with callbacks:    {with_cb:.1f} s ({inside:.1f} s inside the callbacks)", flush=True)
    wall, own = (with_cb - without) / without, inside / (with_cb - inside)
    print(f"overhead ratio: wall {wall:.3f}, self {own:.3f} (budget {args.budget:.2f}) -> {'OK' if own <= args.budget else 'OVER BUDGET'}")


if __name__ == "__main__":
    main()
