"""From text rows to tensors: completion-only labels that include EOS, and left-padded prompts.

Prompt and completion are tokenised separately and concatenated, so the boundary between them
is exact (no re-tokenisation across it). Labels equal the input ids on completion tokens and the
closing EOS, and ``IGNORE`` elsewhere (``mask_prompt=False`` trains on the prompt too, as the
reference code did); the model shifts labels itself. Training batches are right-padded; prompts
for generation are left-padded so that every row's last prompt token sits in the last column.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import torch
from transformers import PreTrainedTokenizerBase

IGNORE = -100


def encode_rows(
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[str],
    completions: Sequence[str],
    max_length: int,
    mask_prompt: bool = True,
) -> dict[str, list[list[int]]]:
    """Token ids, labels and prompt ids per row; rows longer than ``max_length`` are truncated on the left of the prompt
    (counted in a warning); a completion that alone does not fit is an error."""
    prompt_ids = tokenizer(list(prompts), add_special_tokens=False)["input_ids"]
    completion_ids = tokenizer(list(completions), add_special_tokens=False)["input_ids"]
    out: dict[str, list[list[int]]] = {"input_ids": [], "labels": [], "prompt_ids": []}
    eos = tokenizer.eos_token_id
    truncated = 0
    for i, (p, c) in enumerate(zip(prompt_ids, completion_ids, strict=True)):
        c = [*c, eos]
        if len(c) >= max_length:
            raise ValueError(f"row {i}: completion has {len(c)} tokens, more than data.max_length={max_length}; raise max_length")
        truncated += len(p) + len(c) > max_length
        p = p[-(max_length - len(c)) :]
        out["input_ids"].append(p + c)
        out["labels"].append((p if not mask_prompt else [IGNORE] * len(p)) + c)
        out["prompt_ids"].append(p)
    if truncated:
        warnings.warn(
            f"data: {truncated} of {len(prompt_ids)} rows are longer than data.max_length={max_length}; their prompts were cut "
            "on the left to fit (raise data.max_length to keep them whole)",
            stacklevel=2,
        )
    return out


def pad(seqs: Sequence[Sequence[int]], value: int, left: bool = False) -> torch.Tensor:
    width = max(len(s) for s in seqs)
    rows = [([value] * (width - len(s)) + list(s)) if left else (list(s) + [value] * (width - len(s))) for s in seqs]
    return torch.tensor(rows, dtype=torch.long)


class Collator:
    """Batches rows of a tokenised split.

    Produces ``input_ids``/``attention_mask``/``labels`` ``[B, L]`` (right-padded) when rows carry
    labels, ``prompt_ids``/``prompt_mask`` ``[B, P]`` (left-padded) always, and ``index`` ``[B]``.
    """

    def __init__(self, pad_token_id: int, with_labels: bool = True) -> None:
        self.pad_token_id = pad_token_id
        self.with_labels = with_labels

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        batch: dict[str, torch.Tensor] = {}
        if self.with_labels:
            batch["input_ids"] = pad([r["input_ids"] for r in rows], self.pad_token_id)
            batch["attention_mask"] = pad([[1] * len(r["input_ids"]) for r in rows], 0)
            batch["labels"] = pad([r["labels"] for r in rows], IGNORE)
        batch["prompt_ids"] = pad([r["prompt_ids"] for r in rows], self.pad_token_id, left=True)
        batch["prompt_mask"] = pad([[1] * len(r["prompt_ids"]) for r in rows], 0, left=True)
        batch["index"] = torch.tensor([r["index"] for r in rows], dtype=torch.long)
        return batch
