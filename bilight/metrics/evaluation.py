"""Per-problem evaluation records and the accuracies they give, with standard errors.

An evaluation (``bilight test``) keeps one record per problem: ``split``, ``index``, ``greedy`` (0/1) and
``samples`` (k 0/1 verdicts at the sampling temperature). Everything a before/after claim needs follows
from these records: greedy accuracy, avg@k and unbiased pass@k with standard errors, and, for two
evaluations of the same problems, the paired differences (`bilight.metrics.stats.paired_difference`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from bilight.metrics.accuracy import mean_pass_at_k
from bilight.metrics.stats import mean_se


def split_metrics(rows: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """Greedy accuracy, avg@k and unbiased pass@k (k = samples per problem) of one split's records, with standard errors."""
    greedy = mean_se([float(r["greedy"]) for r in rows])
    out = {"n": float(len(rows)), "greedy": greedy.mean, "greedy_se": greedy.se}
    k = len(rows[0]["samples"]) if rows and rows[0].get("samples") else 0
    if k:
        samples = torch.tensor([r["samples"] for r in rows], dtype=torch.float64)
        avg = mean_se(samples.mean(1).tolist())
        out |= {f"avg@{k}": avg.mean, f"avg@{k}_se": avg.se, f"pass@{k}": mean_pass_at_k(samples, [k])[k]}
    return out


def by_split(rows: Sequence[Mapping[str, Any]]) -> dict[str, dict[int, Mapping[str, Any]]]:
    """``{split: {index: record}}`` (a repeated record, e.g. from a padded distributed sampler, counts once)."""
    out: dict[str, dict[int, Mapping[str, Any]]] = {}
    for row in rows:
        out.setdefault(str(row["split"]), {})[int(row["index"])] = row
    return out
