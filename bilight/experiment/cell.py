"""One (recipe, seed) cell of the experiment: its evaluation before and after GRPO, paired per problem.

The evaluation stage writes one JSON line per problem (``split``, ``index``, ``greedy`` 0/1, ``samples``:
k 0/1 verdicts at the training temperature); `cell_record` turns the two files of a cell (the SFT model
and the GRPO model, on the same problems with the same sampling seeds) into accuracies with standard
errors and the paired RL gain, and adds the pre-RL diagnostics. Pure functions of the files' contents.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from bilight.metrics.accuracy import mean_pass_at_k
from bilight.metrics.stats import mean_se, paired_difference


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The rows of a JSON-lines file."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def by_split(rows: Iterable[Mapping[str, Any]]) -> dict[str, dict[int, Mapping[str, Any]]]:
    """``{split: {index: row}}``."""
    out: dict[str, dict[int, Mapping[str, Any]]] = {}
    for row in rows:
        out.setdefault(str(row["split"]), {})[int(row["index"])] = row
    return out


def split_metrics(rows: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """Greedy accuracy, avg@k and unbiased pass@k (k = samples per problem) of one split, with standard errors."""
    greedy = mean_se([float(r["greedy"]) for r in rows])
    out = {"n": float(len(rows)), "greedy": greedy.mean, "greedy_se": greedy.se}
    k = len(rows[0]["samples"]) if rows and rows[0].get("samples") else 0
    if k:
        samples = torch.tensor([r["samples"] for r in rows], dtype=torch.float64)
        avg = mean_se(samples.mean(1).tolist())
        out |= {f"avg@{k}": avg.mean, f"avg@{k}_se": avg.se, f"pass@{k}": mean_pass_at_k(samples, [k])[k]}
    return out


def paired_gain(before: Mapping[int, Mapping[str, Any]], after: Mapping[int, Mapping[str, Any]]) -> dict[str, dict[str, float]]:
    """After - before on the problems both evaluated: greedy and avg@k, each with its paired standard error."""
    common = sorted(set(before) & set(after))
    if not common:
        raise ValueError("paired_gain: the two evaluations share no problem; evaluate both models on the same split")
    out = {}
    g = paired_difference([float(before[i]["greedy"]) for i in common], [float(after[i]["greedy"]) for i in common])
    out["greedy"] = {"mean": g.mean, "se": g.se, "n": float(g.n)}
    k = len(before[common[0]].get("samples") or [])
    if k:
        a = paired_difference(
            [sum(before[i]["samples"]) / k for i in common], [sum(after[i]["samples"]) / len(after[i]["samples"]) for i in common]
        )
        out[f"avg@{k}"] = {"mean": a.mean, "se": a.se, "n": float(a.n)}
    return out


def cell_record(
    recipe: str,
    seed: int,
    before: Sequence[Mapping[str, Any]],
    after: Sequence[Mapping[str, Any]],
    diagnostics: Mapping[str, float],
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``cell.json`` record: metrics after SFT and after GRPO per split, the paired gain, the diagnostics."""
    b, a = by_split(before), by_split(after)
    return {
        "recipe": recipe,
        "seed": seed,
        "sft": {s: split_metrics(list(rows.values())) for s, rows in b.items()},
        "grpo": {s: split_metrics(list(rows.values())) for s, rows in a.items()},
        "gain": {s: paired_gain(b[s], a[s]) for s in b if s in a},
        "diagnostics": dict(diagnostics),
        **(extra or {}),
    }
