"""One (recipe, seed) cell of the experiment: its evaluation before and after GRPO, paired per problem.

The evaluation stage writes one JSON line per problem (``split``, ``index``, ``greedy`` 0/1, ``samples``:
k 0/1 verdicts at the training temperature); `cell_record` turns the two files of a cell (the SFT model
and the GRPO model, on the same problems with the same sampling seeds) into accuracies with standard
errors and the paired RL gain, and adds the pre-RL diagnostics. Pure functions of the files' contents.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bilight.metrics.evaluation import by_split, split_metrics
from bilight.metrics.stats import paired_difference


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The rows of a JSON-lines file."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


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
