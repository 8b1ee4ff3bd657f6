"""Reward curve of a GRPO run from its CSV log: rollout accuracy and reward per step (with a moving mean),
greedy accuracy on the step's prompts (``greedy_in_group`` runs),
the share of zero-spread groups, and in-run validation accuracy when present.

    python benchmarks/plot_grpo.py runs/grpo/igsm_tiny_bridge/metrics.csv   # writes reward_curve.png beside it
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def series(rows: list[dict[str, str]], key: str) -> tuple[list[float], list[float]]:
    points = [(float(r["step"]), float(r[key])) for r in rows if r.get(key)]
    return [p[0] for p in points], [p[1] for p in points]


def moving_mean(values: list[float], window: int) -> list[float]:
    return [sum(values[max(0, i - window + 1) : i + 1]) / len(values[max(0, i - window + 1) : i + 1]) for i in range(len(values))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("csv", type=Path)
    parser.add_argument("--out", type=Path, default=None, help="default: reward_curve.png next to the CSV")
    parser.add_argument("--window", type=int, default=20, help="moving-mean window in steps")
    args = parser.parse_args()
    rows = list(csv.DictReader(args.csv.open()))
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    curves = (("rollout/acc", "C0", "-"), ("rollout/reward_mean", "C1", ":"), ("rollout/greedy_acc", "C2", "-"))  # greedy: greedy_in_group
    for key, colour, style in curves:  # acc and reward_mean are equal without extra rewards
        x, y = series(rows, key)
        if x:
            ax1.plot(x, y, color=colour, alpha=0.25, lw=0.8, ls=style)
            ax1.plot(x, moving_mean(y, args.window), color=colour, lw=2, ls=style, label=f"{key} ({args.window}-step mean)")
    for key, marker in (("val/acc_id", "o"), ("val/avg@4_id", "s")):
        x, y = series(rows, key)
        if x:
            ax1.plot(x, y, marker=marker, ls="--", label=f"{key} (in-run, 125 problems)")
    ax1.set(xlabel="optimizer step", ylabel="accuracy / reward", title="GRPO rollouts on the training prompts")
    ax1.legend(fontsize=8)
    for key in ("rollout/frac_zero_std", "rollout/frac_all_wrong", "rollout/frac_all_correct"):
        x, y = series(rows, key)
        if x:
            ax2.plot(x, moving_mean(y, args.window), label=key)
    ax2.set(xlabel="optimizer step", ylabel="share of sampled groups", title="groups without learning signal")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    out = args.out or args.csv.with_name("reward_curve.png")
    fig.savefig(out, dpi=120)
    print(out)


if __name__ == "__main__":
    main()
