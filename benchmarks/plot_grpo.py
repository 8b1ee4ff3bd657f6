"""Reward curve of a GRPO run from its CSV log: rollout accuracy and reward per step (with a moving mean),
greedy accuracy on the step's prompts (``greedy_in_group`` runs),
the share of zero-spread groups, and in-run validation accuracy when present.

    python benchmarks/plot_grpo.py runs/grpo/igsm_tiny_bridge/metrics.csv   # writes reward_curve.png beside it

The same figure (``bilight.metrics.plots.reward_curve_figure``) is drawn during a run by the
``bilight.callbacks.RewardCurve`` callback; this script redraws it from any CSV log, e.g. with another window.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

from bilight.metrics.plots import reward_curve_figure


def read_rows(path: Path) -> list[dict[str, float]]:
    """The CSV's rows as ``{column: value}`` without the empty cells (each row holds one step's logged keys)."""
    with path.open(newline="") as f:
        return [{k: float(v) for k, v in row.items() if v not in ("", None)} for row in csv.DictReader(f)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("csv", type=Path)
    parser.add_argument("--out", type=Path, default=None, help="default: reward_curve.png next to the CSV")
    parser.add_argument("--window", type=int, default=20, help="moving-mean window in steps")
    args = parser.parse_args()
    fig = reward_curve_figure(read_rows(args.csv), window=args.window)
    out = args.out or args.csv.with_name("reward_curve.png")
    fig.savefig(out, dpi=120)
    print(out)


if __name__ == "__main__":
    main()
