"""The preallocated KV cache gives the same logits as transformers' concatenating DynamicCache."""

from __future__ import annotations

import pytest
import torch
from transformers import DynamicCache, LlamaForCausalLM, MistralConfig
from transformers.cache_utils import DynamicLayer

from bilight.rollout.cache import PreallocatedLayer, generation_cache

Prompts = tuple[torch.Tensor, torch.Tensor]


def _decode_logits(model: LlamaForCausalLM, cache: DynamicCache, ids: torch.Tensor, mask: torch.Tensor, steps: int) -> list[torch.Tensor]:
    """Prefill, repeat the cache twice, then feed fixed tokens; return the logits of every call."""
    with torch.no_grad():
        out = model(input_ids=ids, attention_mask=mask, cache=cache, use_cache=True)
        logits = [out.logits[:, -1].repeat_interleave(2, 0)]
        out.cache.batch_repeat_interleave(2)
        full = torch.cat([mask.repeat_interleave(2, 0), mask.new_ones(ids.shape[0] * 2, steps)], 1)
        for step in range(steps):
            token = torch.full((ids.shape[0] * 2, 1), 5 + step)
            out = model(input_ids=token, attention_mask=full[:, : ids.shape[1] + step + 1], cache=out.cache, use_cache=True)
            logits.append(out.logits[:, -1])
    return logits


def test_same_logits_as_dynamic_cache(model: LlamaForCausalLM, prompts: Prompts) -> None:
    ids, mask = prompts
    cache = generation_cache(model.config, ids.shape[1] + 4)
    assert all(isinstance(layer, PreallocatedLayer) for layer in cache.layers)
    ours = _decode_logits(model, cache, ids, mask, 4)
    reference = _decode_logits(model, DynamicCache(config=model.config), ids, mask, 4)
    for a, b in zip(ours, reference, strict=True):
        torch.testing.assert_close(a, b)
    assert cache.get_seq_length() == ids.shape[1] + 4


def test_capacity_is_enforced(model: LlamaForCausalLM, prompts: Prompts) -> None:
    ids, mask = prompts
    with pytest.raises(RuntimeError, match="capacity"):
        _decode_logits(model, generation_cache(model.config, ids.shape[1] + 2), ids, mask, 3)


def test_sliding_window_models_keep_their_layers() -> None:
    config = MistralConfig(
        vocab_size=50, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, sliding_window=8
    )
    cache = generation_cache(config, 16)
    assert not any(type(layer) is DynamicLayer or isinstance(layer, PreallocatedLayer) for layer in cache.layers)
