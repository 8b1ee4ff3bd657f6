"""One path from prompts to verdicts: sample (or decode greedily), decode to text, judge.

Why one function: SFT and GRPO validation, GRPO rollouts, the two probe callbacks and the
evaluation script all need "generate -> batch_decode -> verify"; written once here, they cannot
drift apart (a different decode flag or verifier in one of them would silently change a metric).
`Sampling` is the frozen record of the generation settings that callers used to pass as a row of
keyword arguments; `sample_and_judge` returns a `bilight.types.Rollouts` with the texts, the
verdicts and the ``[B*G]`` correctness filled in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from bilight.data.collate import Collator
from bilight.data.judge import Judge
from bilight.rollout.sampler import generate
from bilight.types import Rollouts


@dataclass(frozen=True)
class Sampling:
    """How completions are generated.

    Attributes:
        num_samples: completions per prompt (G).
        greedy: decode greedily (argmax; ``temperature``, ``top_p`` and ``top_k`` are then unused).
        temperature: sampling temperature (log-probs are taken at this temperature).
        top_p: nucleus threshold (1 disables it).
        top_k: top-k filter (0 disables it).
        max_new_tokens: generation budget per completion.
        stop_strings: a completion also ends at the token that completes one of these.
        greedy_first: member 0 of every group is decoded greedily in the same loop as the G-1 samples.
    """

    num_samples: int = 1
    greedy: bool = False
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    max_new_tokens: int = 256
    stop_strings: tuple[str, ...] = ()
    greedy_first: bool = False

    def with_(self, **changes: object) -> Sampling:
        """A copy with some settings changed (e.g. ``greedy=True, num_samples=1`` for validation)."""
        return replace(self, **changes)  # type: ignore[arg-type]


def sample(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: dict[str, torch.Tensor],
    sampling: Sampling,
    generator: torch.Generator | None = None,
) -> Rollouts:
    """Generate and decode ``sampling.num_samples`` completions per prompt of a left-padded batch (``prompt_ids``, ``prompt_mask``)."""

    def decode(ids: list[int]) -> str:
        return str(tokenizer.decode(ids, skip_special_tokens=True))

    out = generate(
        model,
        prompts["prompt_ids"],
        prompts["prompt_mask"],
        max_new_tokens=sampling.max_new_tokens,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        num_generations=sampling.num_samples,
        temperature=sampling.temperature,
        top_p=sampling.top_p,
        top_k=sampling.top_k,
        do_sample=not sampling.greedy,
        stop_strings=sampling.stop_strings,
        decode=decode if sampling.stop_strings else None,
        generator=generator,
        greedy_first=sampling.greedy_first,
    )
    return replace(out, texts=tuple(tokenizer.batch_decode(out.completion_ids, skip_special_tokens=True)))


def judge_rollouts(rollouts: Rollouts, judge: Judge, split: str, index: torch.Tensor) -> Rollouts:
    """Fill ``verdicts`` and ``correct`` of decoded rollouts whose prompts are problems ``index`` ``[B]`` of ``split``."""
    indices = index.repeat_interleave(rollouts.group_size).tolist()
    verdicts = judge(split, indices, rollouts.texts)
    correct = torch.tensor([float(v.correct) for v in verdicts], device=rollouts.completion_ids.device)
    return replace(rollouts, verdicts=tuple(verdicts), correct=correct, index=index, split=split)


def sample_and_judge(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: dict[str, torch.Tensor],
    split: str,
    sampling: Sampling,
    judge: Judge,
    generator: torch.Generator | None = None,
) -> Rollouts:
    """Completions for a batch of prompts of ``split`` (``prompt_ids``, ``prompt_mask``, ``index``), decoded and judged.

    Returns `Rollouts` with ``texts``, ``verdicts`` and ``correct`` ``[B*G]`` filled; sampling draws
    from ``generator`` (same generator state, same completions).
    """
    return judge_rollouts(sample(model, tokenizer, prompts, sampling, generator), judge, split, prompts["index"])


def prompt_batch(tokenizer: PreTrainedTokenizerBase, judge: Judge, split: str, indices: Sequence[int]) -> dict[str, torch.Tensor]:
    """Left-padded prompts of problems ``indices`` of ``split`` (``prompt_ids``, ``prompt_mask``, ``index``), tokenised as the data module does."""
    ids = tokenizer([judge.prompt(split, i) for i in indices], add_special_tokens=False)["input_ids"]
    rows = [{"prompt_ids": p, "index": i} for p, i in zip(ids, indices, strict=True)]
    return Collator(int(tokenizer.pad_token_id), with_labels=False)(rows)
