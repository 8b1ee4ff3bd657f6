"""Matplotlib figure builders: alpha histogram, co-influence heatmap, accuracy by difficulty, GRPO reward curve.

Why here: the figures are pure functions of the metric results, so the callbacks (which log them to
TensorBoard and save PNGs) and the RL-readiness report draw the same pictures. Each builder returns a
``matplotlib.figure.Figure`` made without ``pyplot`` (no global state, no GUI backend, safe in worker
processes); saving and logging are the caller's job (``fig.savefig(path)``, ``logger.experiment.add_figure``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import cast

import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from bilight.metrics.accuracy import AlphaHistogram


def alpha_histogram_figure(hist: AlphaHistogram | Mapping[str, AlphaHistogram], title: str = "Rollout accuracy per prompt") -> Figure:
    """Bar chart of the share of prompts at each alpha level; a mapping ``{label: hist}`` draws grouped bars (e.g. vanilla vs BRIDGE)."""
    series = dict(hist) if isinstance(hist, Mapping) else {"": hist}
    fig = Figure(figsize=(6, 3.5), layout="constrained")
    ax = fig.add_subplot()
    width = 0.8 / len(series)
    for i, (label, h) in enumerate(series.items()):
        n = h.centers.numel() - 1
        positions = [j + (i - (len(series) - 1) / 2) * width for j in range(n + 1)]
        ax.bar(positions, h.fractions.tolist(), width=width, label=label or None)
        ax.set_xticks(range(n + 1), [f"{j}/{n}" for j in range(n + 1)])
    return _finish(fig, ax, "alpha = correct samples / samples", "share of prompts", title, legend=len(series) > 1)


def co_influence_figure(matrix: torch.Tensor, title: str = "Co-influence C(q, q')") -> Figure:
    """Heatmap of a ``[M, M]`` co-influence matrix (rows: source prompt q, columns: target q'); NaN cells are blank.

    The colour scale is symmetric around 0 (red helps, blue hurts) so that the sign reads at a glance.
    """
    values = matrix.detach().to(torch.float64).cpu()
    finite = values[torch.isfinite(values)]
    bound = float(finite.abs().max()) if finite.numel() else 1.0
    bound = bound if bound > 0 and math.isfinite(bound) else 1.0
    fig = Figure(figsize=(5, 4.2), layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(values.numpy(), cmap="RdBu_r", vmin=-bound, vmax=bound, interpolation="nearest")
    fig.colorbar(image, ax=ax)
    ax.set_xlabel("target prompt q'")
    ax.set_ylabel("source prompt q (0 < alpha < 1)")
    ax.set_title(title)
    return fig


def accuracy_by_difficulty_figure(
    results: Mapping[int, tuple[float, int]] | Mapping[str, Mapping[int, tuple[float, int]]],
    title: str = "Accuracy by difficulty",
) -> Figure:
    """Bars of accuracy per difficulty level (``accuracy_by_difficulty`` output), or grouped bars for ``{label: result}``.

    Each bar is annotated with its number of prompts.
    """
    first = next(iter(results.values()), None)
    series = cast(dict[str, Mapping[int, tuple[float, int]]], dict(results) if isinstance(first, Mapping) else {"": results})
    levels = sorted({level for r in series.values() for level in r})
    fig = Figure(figsize=(6, 3.5), layout="constrained")
    ax = fig.add_subplot()
    width = 0.8 / max(len(series), 1)
    for i, (label, result) in enumerate(series.items()):
        shown = [level for level in levels if level in result]
        positions = [levels.index(level) + (i - (len(series) - 1) / 2) * width for level in shown]
        bars = ax.bar(positions, [result[level][0] for level in shown], width=width, label=label or None)
        ax.bar_label(bars, labels=[f"n={result[level][1]}" for level in shown], fontsize=7)
    ax.set_xticks(range(len(levels)), [str(level) for level in levels])
    ax.set_ylim(0, 1.1)
    return _finish(fig, ax, "difficulty (operations)", "accuracy", title, legend=len(series) > 1)


VAL_ID_ACCURACY = re.compile(r"val/(acc|avg@\d+)_id")  # in-run greedy and sampled validation accuracy, ID set
ROLLOUT_CURVES = (("rollout/acc", "C0", "-"), ("rollout/reward_mean", "C1", ":"), ("rollout/greedy_acc", "C2", "-"))  # key, colour, style
SIGNAL_SHARES = ("rollout/frac_zero_std", "rollout/frac_all_wrong", "rollout/frac_all_correct")
REWARD_CURVE_KEYS = tuple(key for key, _, _ in ROLLOUT_CURVES) + SIGNAL_SHARES  # the per-step keys the figure draws


def moving_mean(values: Sequence[float], window: int) -> list[float]:
    """Trailing mean over up to ``window`` values (shorter at the start)."""
    out, total = [], 0.0
    for i, value in enumerate(values):
        total += value - (values[i - window] if i >= window else 0.0)
        out.append(total / min(i + 1, window))
    return out


def reward_curve_figure(
    rows: Sequence[Mapping[str, float]], window: int = 20, title: str = "GRPO rollouts on the training prompts"
) -> Figure:
    """Two panels from per-step GRPO metrics (``{"step": s, "rollout/acc": ..., ...}`` rows, keys optional).

    Left: rollout accuracy, reward and (``greedy_in_group``) greedy accuracy per step with a
    ``window``-step moving mean, plus in-run validation accuracy (``VAL_ID_ACCURACY`` keys). Right: the moving share of groups
    without learning signal (zero reward spread, all wrong, all correct).
    """

    def series(key: str) -> tuple[list[float], list[float]]:
        points = [(float(r["step"]), float(r[key])) for r in rows if key in r and not math.isnan(float(r[key]))]
        return [x for x, _ in points], [y for _, y in points]

    fig = Figure(figsize=(11, 4), layout="constrained")
    left, right = fig.subplots(1, 2)
    for key, colour, style in ROLLOUT_CURVES:
        x, y = series(key)  # acc and reward_mean coincide without extra reward terms
        if x:
            left.plot(x, y, color=colour, alpha=0.25, lw=0.8, ls=style)
            left.plot(x, moving_mean(y, window), color=colour, lw=2, ls=style, label=f"{key} ({window}-step mean)")
    val_keys = sorted({key for r in rows for key in r if VAL_ID_ACCURACY.fullmatch(key)})
    for key, marker in zip(val_keys, "os^v<>", strict=False):
        x, y = series(key)
        if x:
            left.plot(x, y, marker=marker, ls="--", label=f"{key} (in-run validation)")
    left.set(xlabel="optimizer step", ylabel="accuracy / reward", title=title)
    for key in SIGNAL_SHARES:
        x, y = series(key)
        if x:
            right.plot(x, moving_mean(y, window), label=key)
    right.set(xlabel="optimizer step", ylabel="share of sampled groups", title="groups without learning signal")
    for ax in (left, right):
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    return fig


def _finish(fig: Figure, ax: Axes, xlabel: str, ylabel: str, title: str, legend: bool) -> Figure:
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if legend:
        ax.legend()
    return fig
