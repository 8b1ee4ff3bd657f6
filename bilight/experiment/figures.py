"""The experiment's figures, drawn from cell records: gain bars, reward curves, alpha histograms, diagnostic vs gain.

Built without ``pyplot`` like `bilight.metrics.plots` (no global state); `save_figures` writes the PNGs next
to ``results.md``. ``notebooks/03_results.ipynb`` draws the same figures from ``results.json``'s cells.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from bilight.metrics.plots import moving_mean


def _by_recipe(cells: Sequence[Mapping[str, Any]], recipes: Sequence[str]) -> dict[str, list[Mapping[str, Any]]]:
    return {r: [c for c in cells if c["recipe"] == r] for r in recipes if any(c["recipe"] == r for c in cells)}


def gain_bars_figure(cells: Sequence[Mapping[str, Any]], recipes: Sequence[str], metrics: Sequence[str], split: str = "test") -> Figure:
    """RL gain (GRPO - SFT, percentage points) per recipe: a bar at the seed mean, a dot per seed, and each seed's
    paired per-problem standard error as a vertical line through its dot (the noise of the test problems alone)."""
    groups = _by_recipe(cells, recipes)
    fig = Figure(figsize=(2.2 + 1.6 * len(groups) * len(metrics), 3.8), layout="constrained")
    axes = fig.subplots(1, len(metrics), squeeze=False)[0]
    for ax, metric in zip(axes, metrics, strict=True):
        for i, (recipe, mine) in enumerate(groups.items()):
            gains = [100 * c["gain"][split][metric]["mean"] for c in mine]
            errors = [100 * c["gain"][split][metric].get("se", 0.0) for c in mine]
            ax.bar(i, sum(gains) / len(gains), color="tab:orange" if recipe == "bridge" else "tab:blue", alpha=0.6)
            offsets = [i + 0.12 * (j - (len(gains) - 1) / 2) for j in range(len(gains))]
            ax.errorbar(offsets, gains, yerr=errors, fmt="k.", markersize=6, elinewidth=0.8, capsize=2)
        ax.axhline(0, color="gray", linewidth=0.8)
        ax.set_xticks(range(len(groups)), list(groups), rotation=30, ha="right")
        ax.set_ylabel("points (GRPO - SFT)")
        ax.set_title(f"RL gain, {metric}, {split}", fontsize=10)
    return fig


def reward_curves_figure(cells: Sequence[Mapping[str, Any]], recipes: Sequence[str], window: int = 20) -> Figure:
    """GRPO rollout accuracy over steps, one line per recipe (moving mean over steps, averaged over seeds)."""
    fig = Figure(figsize=(6.5, 3.8), layout="constrained")
    ax = fig.add_subplot()
    for recipe, mine in _by_recipe(cells, recipes).items():
        curves = [c.get("reward_curve") or [] for c in mine]
        length = min((len(c) for c in curves), default=0)
        if length == 0:
            continue
        steps = [row[0] for row in curves[0][:length]]
        mean = [sum(c[i][1] for c in curves) / len(curves) for i in range(length)]
        ax.plot(steps, moving_mean(mean, window), label=f"{recipe} ({len(curves)} seed{'s' * (len(curves) > 1)})")
    ax.set_xlabel("GRPO step")
    ax.set_ylabel(f"rollout accuracy (moving mean, {window} steps)")
    ax.set_title("GRPO reward curves")
    ax.legend(fontsize=8)
    return fig


def alpha_histograms_figure(cells: Sequence[Mapping[str, Any]], recipes: Sequence[str]) -> Figure:
    """Share of probe prompts at each rollout-accuracy level of the SFT model, per recipe (pooled over seeds)."""
    groups = _by_recipe(cells, recipes)
    fig = Figure(figsize=(7, 3.8), layout="constrained")
    ax = fig.add_subplot()
    width = 0.8 / max(1, len(groups))
    levels = 0
    for i, (recipe, mine) in enumerate(groups.items()):
        counts = [list(c.get("alpha") or []) for c in mine]
        counts = [c for c in counts if c]
        if not counts:
            continue
        levels = len(counts[0])
        pooled = [sum(c[j] for c in counts) for j in range(levels)]
        total = sum(pooled) or 1
        positions = [j + (i - (len(groups) - 1) / 2) * width for j in range(levels)]
        ax.bar(positions, [p / total for p in pooled], width=width, label=recipe)
    if levels:
        ax.set_xticks(range(levels), [f"{j}/{levels - 1}" for j in range(levels)])
    ax.set_xlabel("alpha = correct samples / samples (SFT model, probe prompts)")
    ax.set_ylabel("share of prompts")
    ax.set_title("Rollout accuracy per prompt before RL")
    ax.legend(fontsize=8)
    return fig


def diagnostic_scatter_figure(
    cells: Sequence[Mapping[str, Any]], recipes: Sequence[str], diagnostics: Sequence[str], metric: str, split: str = "test"
) -> Figure:
    """Each pre-RL diagnostic against the RL gain, one dot per (recipe, seed) cell, coloured by recipe."""
    fig = Figure(figsize=(3.6 * len(diagnostics), 3.4), layout="constrained")
    axes = fig.subplots(1, len(diagnostics), squeeze=False)[0]
    for ax, diag in zip(axes, diagnostics, strict=True):
        for recipe, mine in _by_recipe(cells, recipes).items():
            pts = [(c["diagnostics"][diag], 100 * c["gain"][split][metric]["mean"]) for c in mine if diag in c["diagnostics"]]
            if pts:
                ax.scatter([p[0] for p in pts], [p[1] for p in pts], label=recipe, s=18)
        ax.set_xlabel(diag)
        ax.set_ylabel(f"RL gain, {metric} (points)")
    axes[0].legend(fontsize=7)
    fig.suptitle(f"Do pre-RL diagnostics predict the RL gain? ({split})")
    return fig


def save_figures(cells: Sequence[Mapping[str, Any]], recipes: Sequence[str], k: int, diagnostics: Sequence[str], out: Path) -> list[Path]:
    """Draw every experiment figure into ``out`` and return the paths."""
    if not cells:
        return []
    out.mkdir(parents=True, exist_ok=True)
    present = [d for d in diagnostics if any(d in c["diagnostics"] for c in cells)]
    figures: dict[str, Figure] = {
        "gain_bars.png": gain_bars_figure(cells, recipes, ["greedy", f"avg@{k}"]),
        "reward_curves.png": reward_curves_figure(cells, recipes),
        "alpha_histograms.png": alpha_histograms_figure(cells, recipes),
    }
    if all("test_ood" in c["gain"] for c in cells):  # an experiment without an OOD task has no OOD panel
        figures["gain_bars_ood.png"] = gain_bars_figure(cells, recipes, ["greedy", f"avg@{k}"], split="test_ood")
    if present:
        figures["diagnostics_vs_gain.png"] = diagnostic_scatter_figure(cells, recipes, present, f"avg@{k}")
    paths = []
    for name, fig in figures.items():
        fig.savefig(out / name, dpi=100)
        paths.append(out / name)
    return paths
