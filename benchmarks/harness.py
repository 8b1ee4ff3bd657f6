"""What the side-by-side benchmarks share: each side in its own process, the sides alternated, medians and peak memory.

Why a process per side: peak resident memory is only meaningful for a process that ran one side
(imports included), and a side cannot warm the other's caches or allocator. Alternating the sides
(A B A B ...) makes load from other processes on a shared machine hit both alike. A side is the same
script called with ``--side NAME``; it prints one JSON object as its last line, which the parent
reads, adding the child's peak resident set size (``ru_maxrss``, from the operating system).
"""

from __future__ import annotations

import json
import resource
import statistics
import subprocess
import sys
from collections.abc import Sequence
from typing import Any


def peak_rss_gb() -> float:
    """Peak resident set size of this process so far, in GB (Linux reports kilobytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6


def emit(result: dict[str, Any]) -> None:
    """Last line of a side's output: its measurements and its own peak RSS."""
    print(json.dumps(result | {"peak_rss_gb": peak_rss_gb()}), flush=True)


def run_side(script: str, side: str, args: Sequence[str]) -> dict[str, Any]:
    """Run ``script --side side *args`` in a fresh Python process and return the JSON of its last line."""
    proc = subprocess.run([sys.executable, script, "--side", side, *args], capture_output=True, text=True, check=False)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-4000:])
        raise RuntimeError(f"{script} --side {side} failed with exit code {proc.returncode}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def alternate(script: str, sides: Sequence[str], args: Sequence[str], repeats: int) -> dict[str, list[dict[str, Any]]]:
    """``repeats`` rounds of every side in turn; the results of each side, in order."""
    results: dict[str, list[dict[str, Any]]] = {side: [] for side in sides}
    for round_ in range(repeats):
        for side in sides:
            print(f"  round {round_ + 1}/{repeats}: {side} ...", file=sys.stderr, flush=True)
            results[side].append(run_side(script, side, args))
    return results


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table (pastes into benchmarks/README.md as it is)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)
