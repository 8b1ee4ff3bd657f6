"""The BRIDGE authors' iGSM generator and bilight's, run on the same settings, side by side.

    python benchmarks/igsm_parity.py --reference /path/to/Bridge-LLM-reasoning [--n 400 --seed 100 --min-ops 15 --max-ops 20]

``--reference`` is a local checkout of ``czp16/Bridge-LLM-reasoning`` (nothing is downloaded; it
needs only numpy). Its generator runs as it does in the authors' data recipe
(``experiment/process_data/data_generation.sh``, "long" branch: detailed computation, reflection
0.1, analysis level 2, answers kept when ``|answer| < 1000``); each drawn problem is also written
with the "short" (vanilla) settings from the same random state, for the length ratio. Every
answer-writing call is observed (not changed) to tell regular steps from exploration attempts.
bilight's column comes from `bilight.injection.stats.measure` on ``IGSM(..., style=...)``.
Both columns use the rows of `bilight.injection.stats.ROWS`; the verdict column applies the
issue's targets (10% per row, 5 points per distribution bucket) to bilight against this run's
reference column.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

_LONG = {"detailed_computation": True, "reflection_prob": 0.1, "analysis_prob_list": [0, 0.1, 0.4, 0.8, 1, 1, 1, 1, 1, 1, 1]}
_SHORT = {"detailed_computation": False, "reflection_prob": 0.0, "analysis_prob_list": [0] * 11}


def reference_stats(checkout: Path, min_ops: int, max_ops: int, seed: int, n: int) -> dict[str, float]:
    """The statistics of ``n`` kept problems of the reference generator (its own seeding)."""
    sys.path.insert(0, str(checkout / "iGSM-reasoning"))
    from igsm_reasoning.generation import ProblemGenerator  # type: ignore[import-not-found]

    config: dict[str, Any] = {"max_operations": max_ops, "min_operations": min_ops, "calculate_mod": False, "rng_range": 10, **_LONG}
    gen = ProblemGenerator(config, seed=seed)
    rows: dict[str, list[float]] = {}
    while len(rows.get("question chars", [])) < n:
        if not gen.draw_question():
            continue
        question = gen.generate_question()
        calls: list[tuple[bool, bool]] = []  # (exploration attempt, solvable) per written node
        gd = gen.Gd
        gd.gen_cot_answer_for_node = _observe(gd.gen_cot_answer_for_node, calls)
        state = random.getstate()
        gen.config.update(_SHORT)
        gd.analysis_prob_list = _SHORT["analysis_prob_list"]  # the graph keeps its own copy
        plain = gen.generate_cot_answer()
        random.setstate(state)  # the long answer draws exactly what the authors' script draws
        gen.config.update(_LONG)
        gd.analysis_prob_list = _LONG["analysis_prob_list"]
        calls.clear()
        answer = gen.generate_cot_answer()
        if abs(gd.topo[-1].value) >= 1000:
            continue
        _record(rows, gd, question, answer, plain, calls)
    return _summarise(rows)


def _observe(write: Callable[..., str], calls: list[tuple[bool, bool]]) -> Callable[..., str]:
    def wrapped(node: Any, *args: Any, **kwargs: Any) -> str:
        caller = sys._getframe(1).f_locals  # the answer loop: its cursor tells regular steps from attempts
        regular = node is caller["all_necessary_nodes"][caller["_curr_idx"]]
        solvable = all(p.is_solved for p in node.parent_nodes if p.node_type != "rng")
        text = write(node, *args, **kwargs)
        calls.append((not regular, solvable))
        return text

    return wrapped


def _record(rows: dict[str, list[float]], gd: Any, question: str, answer: str, plain: str, calls: list[tuple[bool, bool]]) -> None:
    topo = gd.topo
    inst = [x for x in topo if x.node_type == "instance"]
    add = lambda key, value: rows.setdefault(key, []).append(float(value))  # noqa: E731
    add("necessary nodes", len(topo))
    add("instance nodes", len(inst))
    add("abstract nodes", len(topo) - len(inst))
    add("constants", sum(all(p.node_type == "rng" for p in x.parent_nodes) for x in inst))
    add("copies", sum(len(x.parent_nodes) == 1 and x.parent_nodes[0].node_type != "rng" for x in inst))
    for x in inst:
        add(f"k={min(len(x.parent_nodes), 4)}", 1.0)
    add("_instances", len(inst))
    add("operations written", sum(_real_ops(x) for x in topo))
    add("nominal operations", gd.final_num_op)
    distractors = sum(x.node_type == "instance" for x in gd.unnecessary_topo)
    add("distractors", distractors)
    add("no distractors", distractors == 0)
    add("max distractors", distractors)
    fails = sum(attempt and not ok for attempt, ok in calls)
    add("failed explorations / answer", fails)
    for b in range(5):
        add(f"fails={b}", (fails == b) if b < 4 else fails >= 4)
    add("early solves / answer", sum(attempt and ok for attempt, ok in calls))
    add("analysis sentences / answer", answer.count("We know that it"))
    add("bridge answer chars", len(answer))
    add("vanilla answer chars", len(plain))
    add("question chars", len(question))
    add("zero answers", gd.topo[-1].value == 0)
    add("negative answers", gd.topo[-1].value < 0)


def _real_ops(node: Any) -> int:
    """Operations the node's equation performs (a constant or a copy performs none)."""
    inputs = len(node.parent_nodes)
    stated_only = node.node_type == "instance" and all(p.node_type == "rng" for p in node.parent_nodes)
    return 0 if stated_only or inputs == 1 else inputs - 1


def _summarise(rows: dict[str, list[float]]) -> dict[str, float]:
    out = {k: statistics.mean(v) for k, v in rows.items() if not k.startswith(("k=", "_", "max"))}
    total = sum(rows["_instances"])
    for k in range(1, 5):
        out[f"k={k}"] = sum(rows.get(f"k={k}", [])) / total
    out["max distractors"] = max(rows["max distractors"])
    out["length ratio"] = out["bridge answer chars"] / out["vanilla answer chars"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reference", type=Path, required=True, help="local checkout of czp16/Bridge-LLM-reasoning")
    parser.add_argument("--n", type=int, default=400)
    parser.add_argument("--seed", type=int, default=100)
    parser.add_argument("--min-ops", type=int, default=15)
    parser.add_argument("--max-ops", type=int, default=20)
    parser.add_argument("--style", default="reference", choices=("reference", "compact"))
    args = parser.parse_args()
    from bilight.injection.stats import measure, table
    from bilight.tasks.igsm import IGSM

    if not (args.reference / "iGSM-reasoning" / "igsm_reasoning").is_dir():
        parser.error(
            f"--reference {args.reference}: no iGSM-reasoning/igsm_reasoning folder there; pass a checkout of czp16/Bridge-LLM-reasoning"
        )
    ref = reference_stats(args.reference, args.min_ops, args.max_ops, args.seed, args.n)
    ours = measure(IGSM(args.min_ops, args.max_ops, seed=args.seed, style=args.style), args.n)
    print(f"ops {args.min_ops}-{args.max_ops}, {args.n} problems each, seed {args.seed}; bilight style={args.style}\n")
    print(table(ours, ref, title=f"bilight ({args.style})"))


if __name__ == "__main__":
    main()
