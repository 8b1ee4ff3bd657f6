"""Generation alone: `bilight.rollout.generate` against ``model.generate(num_return_sequences=G)`` on the same batch.

Why: generation is most of a GRPO step on a CPU. Both sides sample G = 8 completions for each of the
same 16 prompts (the first 16 of the shipped GRPO config's ``rl`` split, left-padded), temperature 1,
no top-k/top-p, budget 160, ending at EOS, from the same model: the quickstart SFT model (``--model``)
and a ~10M-parameter Llama-style model with the same tokenizer. Each side runs in its own process
(`harness`), sides alternated ``--repeats`` times; within a process one warm-up call, then
``--calls`` timed calls with different seeds. Reported: median seconds per call, generated tokens per
second (completion tokens up to and including EOS), peak RSS of the side's process.

    OMP_NUM_THREADS=2 python benchmarks/rollout.py --model runs/sft/igsm_tiny_bridge/hf_model

Last line: ``speedup=<float>``, the smaller of the two sizes' ratios of tokens per second (bilight / generate).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from harness import alternate, build_large, emit, grpo_cli, median, side_by_side_parser, table

PROMPTS, GENERATIONS, BUDGET = 16, 8, 160


def prompts(model_dir: str) -> tuple[torch.Tensor, torch.Tensor, int, int]:
    """The first 16 ``rl`` prompts, left-padded, with the EOS and pad ids."""
    from bilight.data.collate import Collator

    with tempfile.TemporaryDirectory() as root:
        dm = grpo_cli(model_dir, root).datamodule
        rows = [dm.prompts("rl")[i] for i in range(PROMPTS)]
        tokenizer = dm.tokenizer
    batch = Collator(int(tokenizer.pad_token_id), with_labels=False)(rows)
    return batch["prompt_ids"], batch["prompt_mask"], int(tokenizer.eos_token_id), int(tokenizer.pad_token_id)


def run(side: str, model_dir: str, calls: int) -> dict[str, Any]:
    from transformers import AutoModelForCausalLM

    from bilight.rollout import generate

    ids, mask, eos, pad = prompts(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()

    def ours(seed: int) -> int:
        out = generate(
            model, ids, mask, max_new_tokens=BUDGET, eos_token_id=eos, pad_token_id=pad, num_generations=GENERATIONS,
            temperature=1.0, generator=torch.Generator().manual_seed(seed),
        )  # fmt: skip
        return int(out.completion_mask.sum())

    def hf(seed: int) -> int:
        torch.manual_seed(seed)
        with torch.no_grad():
            out = model.generate(
                input_ids=ids, attention_mask=mask, do_sample=True, num_return_sequences=GENERATIONS, max_new_tokens=BUDGET,
                temperature=1.0, top_k=0, top_p=1.0, eos_token_id=eos, pad_token_id=pad,
            )  # fmt: skip
        completion = out[:, ids.shape[1] :]
        is_eos = completion == eos
        # tokens up to and including the first EOS (all of them where there is none)
        lengths = torch.where(is_eos.any(1), is_eos.int().argmax(1) + 1, completion.shape[1])
        return int(lengths.sum())

    fn = ours if side == "bilight" else hf
    fn(0)  # warm-up
    seconds, tokens = [], []
    for seed in range(1, calls + 1):
        start = time.perf_counter()
        tokens.append(fn(seed))
        seconds.append(time.perf_counter() - start)
    return {"seconds": seconds, "tokens": tokens}


def main() -> None:
    parser = side_by_side_parser(__doc__, "generate")
    parser.add_argument("--calls", type=int, default=4, help="timed generate calls per side and repeat")
    args = parser.parse_args()
    if args.side is not None:
        emit(run(args.side, args.model_dir, args.calls))
        return
    if not Path(args.model).is_dir():
        sys.exit(f"--model {args.model}: no such folder; run `bilight fit --config configs/sft/igsm_tiny_bridge.yaml` first")
    print(f"generation: {PROMPTS} prompts x G={GENERATIONS}, budget {BUDGET}, T=1, threads {torch.get_num_threads()}")
    rows, ratios = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes.split(","):
            model_dir = args.model if size == "quickstart" else build_large(args.model, str(Path(tmp) / "large"))
            results = alternate(__file__, ["bilight", "generate"], ["--model_dir", model_dir, "--calls", str(args.calls)], args.repeats)
            summary = {}
            for side, runs in results.items():
                seconds = median([statistics.median(r["seconds"]) for r in runs])
                rate = median([statistics.median([t / s for t, s in zip(r["tokens"], r["seconds"], strict=True)]) for r in runs])
                summary[side] = rate
                name = "bilight.rollout.generate" if side == "bilight" else "model.generate(num_return_sequences=8)"
                rss = max(r["peak_rss_gb"] for r in runs)
                rows.append([size, name, f"{seconds:.2f}", f"{rate:,.0f}", f"{rss:.2f}"])
            ratios.append(summary["bilight"] / summary["generate"])
            rows.append([size, "ratio", "", f"{ratios[-1]:.2f}x", ""])
    print(table(["model", "side", "s/call", "generated tok/s", "peak RSS GB"], rows))
    print(f"speedup={min(ratios):.2f}")


if __name__ == "__main__":
    main()
