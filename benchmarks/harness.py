"""What the side-by-side benchmarks share: each side in its own process, the sides alternated, medians and peak memory.

Why a process per side: peak resident memory is only meaningful for a process that ran one side
(imports included), and a side cannot warm the other's caches or allocator. Alternating the sides
(A B A B ...) makes load from other processes on a shared machine hit both alike. A side is the same
script called with ``--side NAME``; it prints one JSON object as its last line, which the parent
reads, adding the child's peak resident set size (``ru_maxrss``, from the operating system).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bilight.system import peak_rss_gb  # imports nothing heavy: the peer side pays only for its own imports

ROOT = Path(__file__).resolve().parents[1]
GRPO_CONFIG = ROOT / "configs" / "grpo" / "igsm_tiny_bridge.yaml"
DEFAULT_MODEL = str(ROOT / "runs" / "sft" / "igsm_tiny_bridge" / "hf_model")
LARGE = {"hidden_size": 288, "num_layers": 8, "num_heads": 4}  # ~10.6M parameters, Llama-style


def side_by_side_parser(doc: str, peer: str, sizes: bool = True) -> argparse.ArgumentParser:
    """The arguments every side-by-side script takes: ``--repeats`` and the hidden ``--side``/``--model_dir`` a
    side process is called with; with ``sizes``, ``--model`` (the quickstart SFT model) and ``--sizes``."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=2, help=f"rounds of bilight then {peer}")
    parser.add_argument("--side", choices=["bilight", peer], help=argparse.SUPPRESS)
    if sizes:
        parser.add_argument("--model", default=DEFAULT_MODEL, help="save_pretrained folder of the quickstart SFT model")
        parser.add_argument("--sizes", default="quickstart,10m", help="comma-separated: quickstart, 10m")
        parser.add_argument("--model_dir", help=argparse.SUPPRESS)
    return parser


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


def grpo_cli(model_dir: str, root: str, *overrides: str) -> Any:
    """The shipped GRPO config as plain GRPO (no greedy member, no dynamic sampling) on ``model_dir``, 16 x 8, budget 160.

    No validation, logging or checkpoints; a 2,000-prompt ``rl`` split (the same problems for every size).
    """
    from bilight.cli import TRAINER_DEFAULTS, BilightCLI
    from bilight.data import BilightDataModule
    from bilight.modules.common import LMModule

    args = [
        "--config", str(GRPO_CONFIG), "--trainer.max_time=null", "--trainer.limit_val_batches=0",
        "--trainer.num_sanity_val_steps=0", f"--trainer.default_root_dir={root}", "--trainer.enable_progress_bar=false",
        "--trainer.logger=false", "--trainer.enable_checkpointing=false", "--trainer.callbacks=[]",
        "--model.init_args.init_from=null", f"--model.init_args.name_or_path={model_dir}",
        "--model.init_args.greedy_in_group=false", "--model.init_args.dynamic_sampling=false",
        "--model.init_args.max_new_tokens=160", "--model.init_args.num_generations=8",
        "--data.batch_size=16", "--data.num_rl=2000", "--data.num_val=16", *overrides,
    ]  # fmt: skip
    return BilightCLI(
        model_class=LMModule, subclass_mode_model=True, datamodule_class=BilightDataModule,
        trainer_defaults=TRAINER_DEFAULTS, args=args, run=False,
    )  # fmt: skip


def build_large(model_dir: str, out: str) -> str:
    """A ~10M-parameter Llama-style model (seed 0) with the tokenizer of ``model_dir``, saved to ``out``.

    Untrained, so its completions end at random (EOS about once per vocabulary size of tokens).
    """
    from transformers import AutoTokenizer

    from bilight.modules.common import build_model

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = build_model(tokenizer, hidden_size=LARGE["hidden_size"], num_layers=LARGE["num_layers"], num_heads=LARGE["num_heads"])
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def trl_step_clock() -> Any:
    """A transformers ``TrainerCallback`` that keeps each optimizer step's wall time in ``.seconds`` (the TRL sides)."""
    import time

    from transformers import TrainerCallback

    class StepClock(TrainerCallback):
        def __init__(self) -> None:
            self.seconds: list[float] = []
            self.start = 0.0

        def on_step_begin(self, *args: Any, **kwargs: Any) -> None:
            self.start = time.perf_counter()

        def on_step_end(self, *args: Any, **kwargs: Any) -> None:
            self.seconds.append(time.perf_counter() - self.start)

    return StepClock()
