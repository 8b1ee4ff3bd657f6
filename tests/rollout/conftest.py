"""A tiny random Llama (hidden 32, 2 layers, vocab 50) and left-padded prompts of different lengths."""

from __future__ import annotations

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

PAD, EOS, VOCAB = 0, 2, 50


@pytest.fixture(scope="module")
def model() -> LlamaForCausalLM:
    config = LlamaConfig(
        vocab_size=VOCAB,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=128,
        pad_token_id=PAD,
        eos_token_id=EOS,
        bos_token_id=1,
    )
    torch.manual_seed(0)
    return LlamaForCausalLM(config).eval()


@pytest.fixture
def prompts() -> tuple[torch.Tensor, torch.Tensor]:
    """Three prompts of lengths 5, 2 and 4, left-padded to 5."""
    rows = [[1, 7, 8, 9, 10], [1, 11], [1, 12, 13, 14]]
    width = max(len(r) for r in rows)
    ids = torch.tensor([[PAD] * (width - len(r)) + r for r in rows])
    mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows])
    return ids, mask
