"""Group sampling speed: `bilight.rollout.generate` against `model.generate(num_return_sequences=G)`.

Why: a GRPO step on this CPU spends most of its time generating, and the point of the sampler is
to prefill each prompt once for its G completions and to skip generate's per-step overhead. Both
sides sample at temperature 1 from the same random Llama-style models and the same left-padded
prompts, with no EOS so every row generates exactly ``max_new_tokens`` tokens; the best of a few
runs is reported as completion tokens per second, and the ratio ours / generate.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/rollout_speed.py
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import torch
from transformers import LlamaConfig, LlamaForCausalLM

from bilight.rollout import generate

SIZES: dict[str, dict[str, Any]] = {
    "tiny (hidden 32, 2 layers, vocab 50)": {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "vocab_size": 50},
    "quickstart (hidden 128, 4 layers, vocab 80)": {"hidden_size": 128, "num_hidden_layers": 4, "num_attention_heads": 2, "vocab_size": 80},
}


def build(size: dict[str, Any]) -> LlamaForCausalLM:
    config = LlamaConfig(
        intermediate_size=4 * size["hidden_size"],
        num_key_value_heads=size["num_attention_heads"],
        max_position_embeddings=512,
        pad_token_id=0,
        eos_token_id=None,
        bos_token_id=1,
        tie_word_embeddings=True,
        **size,
    )
    torch.manual_seed(0)
    return LlamaForCausalLM(config).eval()


def prompts(batch: int, max_len: int, vocab: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``batch`` left-padded prompts with lengths spread over [max_len / 2, max_len]."""
    g = torch.Generator().manual_seed(0)
    lengths = torch.randint(max_len // 2, max_len + 1, (batch,), generator=g).tolist()
    ids = torch.zeros(batch, max_len, dtype=torch.long)
    mask = torch.zeros(batch, max_len, dtype=torch.long)
    for i, n in enumerate(lengths):
        ids[i, max_len - n :] = torch.randint(3, vocab, (n,), generator=g)
        mask[i, max_len - n :] = 1
    return ids, mask


def best_tokens_per_second(fns: dict[str, Callable[[], int]], repeats: int) -> dict[str, float]:
    """Best tokens/s of each function, alternating between them so that load from other processes hits both alike."""
    best = dict.fromkeys(fns, 0.0)
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            tokens = fn()
            best[name] = max(best[name], tokens / (time.perf_counter() - start))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=16)
    parser.add_argument("--prompt_len", type=int, default=48)
    parser.add_argument("--num_generations", type=int, default=8)
    parser.add_argument("--max_new_tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=4)
    args = parser.parse_args()
    g, new = args.num_generations, args.max_new_tokens
    print(f"B={args.prompts} prompts (<= {args.prompt_len} tokens) x G={g}, {new} new tokens, threads={torch.get_num_threads()}")
    for name, size in SIZES.items():
        model = build(size)
        ids, mask = prompts(args.prompts, args.prompt_len, size["vocab_size"])

        def ours(model: LlamaForCausalLM = model, ids: torch.Tensor = ids, mask: torch.Tensor = mask) -> int:
            out = generate(
                model, ids, mask, max_new_tokens=new, eos_token_id=None, num_generations=g, generator=torch.Generator().manual_seed(0)
            )
            return int(out.completion_mask.sum())

        def hf(model: LlamaForCausalLM = model, ids: torch.Tensor = ids, mask: torch.Tensor = mask) -> int:
            with torch.no_grad():
                out = model.generate(
                    input_ids=ids,
                    attention_mask=mask,
                    do_sample=True,
                    num_return_sequences=g,
                    max_new_tokens=new,
                    min_new_tokens=0,
                    top_k=0,
                    pad_token_id=0,
                )
            return int(out[:, ids.shape[1] :].numel())

        tps = best_tokens_per_second({"ours": ours, "hf": hf}, args.repeats)
        ours_tps, hf_tps = tps["ours"], tps["hf"]
        print(f"{name}: bilight {ours_tps:,.0f} tok/s, generate {hf_tps:,.0f} tok/s, ratio {ours_tps / hf_tps:.2f}x")


if __name__ == "__main__":
    main()
