"""Turn finished (recipe, seed) cells into the experiment's answer: ``results.json`` and ``results.md``.

A cell is one SFT recipe at one seed, carried through SFT -> diagnosis -> GRPO -> evaluation; its
``cell.json`` (written by the runner, see `bilight.experiment.runner`) holds the evaluation of the SFT
model and of the GRPO model on the same test problems, the RL gain paired per problem, and the pre-RL
diagnostics. This module only reads cells, so ``results.md`` can be rebuilt at any time from whatever
cells exist (the missing ones are listed).

What it answers:

* per recipe, mean and spread (sample std) over seeds of each metric after SFT and after GRPO, and of
  the RL gain (after - before, paired per seed);
* the headline: does BRIDGE's RL gain beat vanilla's, by how much, with the seed spread;
* beyond the paper: across all cells, Spearman's rho between each pre-RL diagnostic and the RL gain,
  with a permutation p-value (do the diagnostics predict the gain?). The SFT model's own accuracy (same
  split, same metric) is correlated too, as the yardstick: a model that starts lower has more room to
  gain, so a diagnostic tells something new only if it predicts the gain better than that, or still
  predicts it given the SFT accuracy (the partial rank correlation beside each diagnostic's rho).
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bilight.metrics.stats import partial_spearman, spearman

SPLITS = ("test", "test_ood")
DIAGNOSTICS = ("mean_alpha", "informative_mass", "co_influence", "delta_j")
"""Pre-RL diagnostics a cell records (probe set of the SFT model), correlated with the RL gain."""
BASELINE = "sft_accuracy"
"""The yardstick predictor: the SFT model's accuracy on the split and metric of the gain it is correlated with."""


def metric_names(k: int) -> tuple[str, ...]:
    """Evaluation metrics per split for ``k`` samples per problem (greedy only when k = 0)."""
    return ("greedy", f"avg@{k}", f"pass@{k}") if k else ("greedy",)


def load_cells(root: Path) -> list[dict[str, Any]]:
    """Every ``<root>/<recipe>/<seed>/cell.json`` below ``root``, sorted by (recipe, seed)."""
    cells = [json.loads(p.read_text()) for p in sorted(root.glob("*/*/cell.json"))]
    return sorted(cells, key=lambda c: (c["recipe"], c["seed"]))


def _spread(values: Sequence[float]) -> dict[str, Any]:
    mean = statistics.fmean(values)
    sd = statistics.stdev(values) if len(values) > 1 else math.nan
    return {"mean": mean, "sd": sd, "n": len(values), "values": list(values)}


def _gain_spread(gains: Sequence[Mapping[str, float]]) -> dict[str, Any]:
    """Mean and seed spread of per-cell gains, plus ``problem_se``: the standard error of that mean from the test
    problems alone (each cell's paired per-problem SE), the only error bar there is while a recipe has one seed."""
    out = _spread([g["mean"] for g in gains])
    out["problem_se"] = math.sqrt(sum(g.get("se", math.nan) ** 2 for g in gains)) / len(gains)
    return out


def summarize(cells: Sequence[Mapping[str, Any]], recipes: Sequence[str], seeds: Mapping[str, Sequence[int]], k: int) -> dict[str, Any]:
    """The ``results.json`` content: per-recipe summaries, correlations, and the cells that are missing."""
    have = {(c["recipe"], int(c["seed"])) for c in cells}
    missing = [f"{r}/{s}" for r in recipes for s in seeds[r] if (r, s) not in have]
    per_recipe: dict[str, Any] = {}
    for recipe in recipes:
        mine = [c for c in cells if c["recipe"] == recipe]
        if not mine:
            continue
        entry: dict[str, Any] = {"seeds": [c["seed"] for c in mine]}
        for stage in ("sft", "grpo"):
            entry[stage] = {
                split: {m: _spread([c[stage][split][m] for c in mine]) for m in metric_names(k)}
                for split in SPLITS
                if split in mine[0][stage]
            }
        entry["gain"] = {
            split: {m: _gain_spread([c["gain"][split][m] for c in mine]) for m in metric_names(k)[:2]}
            for split in SPLITS
            if split in mine[0]["gain"]
        }
        entry["diagnostics"] = {d: _spread([c["diagnostics"][d] for c in mine]) for d in DIAGNOSTICS if d in mine[0]["diagnostics"]}
        per_recipe[recipe] = entry
    correlations: dict[str, Any] = {}
    for predictor in (BASELINE, *DIAGNOSTICS):
        for split in SPLITS:
            for m in metric_names(k)[:2]:
                pts = [
                    (x, c["gain"][split][m]["mean"], _predictor(c, BASELINE, split, m))
                    for c in cells
                    if split in c["gain"] and (x := _predictor(c, predictor, split, m)) is not None
                ]
                if len(pts) >= 3:
                    xs, gains = [p[0] for p in pts], [p[1] for p in pts]
                    r = spearman(xs, gains)
                    row = {"rho": r.rho, "p_value": r.p_value, "n": r.n}
                    starts = [p[2] for p in pts if p[2] is not None]  # the SFT accuracy of each cell, to hold fixed
                    if predictor != BASELINE and len(starts) == len(pts):
                        partial = partial_spearman(xs, gains, starts)
                        row |= {"partial_rho": partial.rho, "partial_p_value": partial.p_value}
                    correlations.setdefault(predictor, {})[f"{split}/{m}"] = row
    return {"k": k, "recipes": per_recipe, "correlations": correlations, "missing": missing, "cells": len(cells)}


def _predictor(cell: Mapping[str, Any], name: str, split: str, metric: str) -> float | None:
    """A cell's value of a predictor of the ``split``/``metric`` gain (None when the cell lacks it)."""
    value = cell["sft"].get(split, {}).get(metric) if name == BASELINE else cell["diagnostics"].get(name)
    return None if value is None or math.isnan(value) else float(value)


def headline(summary: Mapping[str, Any], metric: str = "greedy", split: str = "test") -> str:
    """One plain sentence: BRIDGE's RL gain against vanilla's, with the seed spread."""
    recipes = summary["recipes"]
    if "bridge" not in recipes or "vanilla" not in recipes:
        return "BRIDGE vs vanilla: not both measured yet."
    b = recipes["bridge"]["gain"][split][metric]
    v = recipes["vanilla"]["gain"][split][metric]
    diff = b["mean"] - v["mean"]
    verdict = "larger than" if diff > 0 else "smaller than" if diff < 0 else "the same as"
    if b["n"] > 1 and v["n"] > 1:
        parts = [(x["sd"] ** 2) / x["n"] for x in (b, v)]
        se = math.sqrt(sum(parts))
        # Welch-Satterthwaite degrees of freedom: with 2-3 seeds per recipe the seed sd is itself uncertain, and
        # the interval is wider than two standard errors (t = 4.3 at 2 degrees of freedom)
        df = sum(parts) ** 2 / sum(q**2 / (x["n"] - 1) for q, x in zip(parts, (b, v), strict=True)) if se > 0 else math.inf
        df = round(df, 6)  # equal variances give exactly 2(n-1) up to rounding error, which must not drop a table row
        crit = t_critical(df)
        spread = f"{_points(b['mean'])} (seed sd {100 * b['sd']:.1f}, {b['n']} seeds) vs {_points(v['mean'])} (sd {100 * v['sd']:.1f}, {v['n']} seeds)"
        dof = f"{math.floor(10 * df) / 10:.1f}" if math.isfinite(df) else "infinite"
        basis = f"standard error over seeds; 95% needs {crit:.1f} of them at Welch's {dof} degrees of freedom"
    else:  # a recipe with one seed has no seed spread: only the test problems' noise can be stated
        se, crit = math.sqrt(b.get("problem_se", math.nan) ** 2 + v.get("problem_se", math.nan) ** 2), 1.96
        spread = f"{_points(b['mean'])} ({b['n']} seed{'s' * (b['n'] > 1)}) vs {_points(v['mean'])} ({v['n']} seed{'s' * (v['n'] > 1)})"
        basis = "test-problem noise only: with one seed the seed-to-seed spread is not measured"
    sig = ""
    if not math.isnan(se) and se > 0:
        sig = "; inside the 95% interval: not distinguishable" if abs(diff) < crit * se else "; outside the 95% interval"
    return (
        f"On {split} {metric} accuracy, BRIDGE's RL gain is {verdict} vanilla's: {spread}, "
        f"a difference of {_points(diff)} ± {100 * se:.1f} points ({basis}{sig})."
    )


T_975 = {1: 12.71, 2: 4.30, 3: 3.18, 4: 2.78, 5: 2.57, 6: 2.45, 7: 2.36, 8: 2.31, 9: 2.26, 10: 2.23, 12: 2.18, 15: 2.13, 20: 2.09, 30: 2.04}
"""Two-sided 95% critical values of Student's t by degrees of freedom (no SciPy dependency for one table)."""


def t_critical(df: float) -> float:
    """Student's t 97.5% quantile at ``df`` degrees of freedom, rounded down to the table (conservative); 1.96 beyond 30."""
    if df > 30:
        return 1.96
    return T_975[max(k for k in T_975 if k <= max(df, 1.0))]


def _points(fraction: float, signed: bool = True) -> str:
    """A fraction as percentage points to one decimal, never "-0.0" (a gain that rounds to zero has no sign)."""
    value = round(100 * fraction, 1) + 0.0  # -0.0 + 0.0 is +0.0
    return f"{value:{'+' if signed else ''}.1f}"


def _pm(x: Mapping[str, Any], signed: bool = False) -> str:
    sd = "" if math.isnan(x["sd"]) else f" ± {100 * x['sd']:.1f}"
    return f"{_points(x['mean'], signed)}{sd}"


def _rho(value: float) -> str:
    return "–" if math.isnan(value) else f"{value:+.2f}"


def _p(value: float) -> str:
    return "< 0.001" if value < 0.001 else f"{value:.3f}"  # a permutation p-value is never exactly 0


def render_markdown(summary: Mapping[str, Any], title: str) -> str:
    """``results.md``: the tables, the headline sentence, the correlations and the missing cells."""
    k = summary["k"]
    if not k:
        raise ValueError("the cells hold no sampled verdicts; evaluate with model.init_args.test_num_samples >= 1")
    greedy, avg = metric_names(k)[:2]
    lines = [f"# {title}", "", headline(summary), "", headline(summary, avg), ""]
    lines += [
        "Accuracy in % (mean ± sample std over seeds); gains are GRPO - SFT, paired per problem within a seed.",
        "",
        f"| recipe | seeds | SFT greedy ID | GRPO greedy ID | gain greedy ID | SFT {avg} ID | gain {avg} ID "
        f"| gain greedy OOD | gain {avg} OOD | mean alpha | informative mass | co-influence |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for recipe, e in summary["recipes"].items():
        ood = e["gain"].get("test_ood", {})
        diag = e["diagnostics"]

        def d(name: str, diag: Mapping[str, Any] = diag) -> str:
            return f"{diag[name]['mean']:.3g}" if name in diag else "–"

        lines.append(
            f"| {recipe} | {len(e['seeds'])} | {_pm(e['sft']['test'][greedy])} | {_pm(e['grpo']['test'][greedy])} "
            f"| {_pm(e['gain']['test'][greedy], True)} | {_pm(e['sft']['test'][avg])} | {_pm(e['gain']['test'][avg], True)} "
            f"| {_pm(ood[greedy], True) if greedy in ood else '–'} | {_pm(ood[avg], True) if avg in ood else '–'} "
            f"| {d('mean_alpha')} | {d('informative_mass')} | {d('co_influence')} |"
        )
    lines += ["", "Do the pre-RL diagnostics predict the RL gain? Spearman's rho across all cells (permutation p-value):", ""]
    lines += ["| diagnostic | gain | rho | p | rho given SFT accuracy | p | cells |", "|---|---|---|---|---|---|---|"]
    tests = 0
    for diag, rows in summary["correlations"].items():
        for gain, r in rows.items():
            partial = f"{_rho(r['partial_rho'])} | {_p(r['partial_p_value'])}" if "partial_rho" in r else "– | –"
            lines.append(f"| {diag} | {gain} | {_rho(r['rho'])} | {_p(r['p_value'])} | {partial} | {r['n']} |")
            tests += diag != BASELINE
    if tests:
        lines += [
            "",
            f"`{BASELINE}` is the yardstick: the SFT model's own accuracy on the split and metric of the gain (a model that "
            "starts lower has more room to gain); a diagnostic adds something only if it predicts the gain better, "
            "or still predicts it given the SFT accuracy (the partial rank correlation: the ranks of the diagnostic and of "
            "the gain each regressed on the ranks of the SFT accuracy, the residuals correlated). "
            f"With {tests} diagnostic tests in each rho column, about {0.05 * tests:.1f} per column reach p < 0.05 by chance alone; "
            f"Bonferroni's bound for the family is p < {0.05 / tests:.4f}.",
        ]
    missing = summary["missing"]
    lines += ["", f"Cells: {summary['cells']} finished; " + (f"missing: {', '.join(missing)}." if missing else "none missing.")]
    return "\n".join(lines) + "\n"
