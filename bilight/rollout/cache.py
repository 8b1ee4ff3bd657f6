"""A KV cache that is allocated once for the whole generation instead of growing by concatenation.

Why: transformers' `DynamicLayer.update` concatenates the new key/value onto the cache at every
step, so decoding T tokens copies the cache T times (O(T^2) memory traffic); on this CPU that was a
quarter of the sampler's time at 128 new tokens. Here each layer writes into a buffer sized
``prompt length + max_new_tokens`` and hands the model a view of the filled part. It is a
subclass of `DynamicLayer` used through the public `Cache(layers=...)` extension point, so the
model, the mask builder and `batch_repeat_interleave` see an ordinary dynamic cache.

Only plain full-attention layers are replaced; models whose config asks for sliding-window,
linear-attention or shared KV layers keep transformers' own `DynamicCache` layers.
"""

from __future__ import annotations

from typing import Any

import torch
from transformers import DynamicCache, PretrainedConfig
from transformers.cache_utils import DynamicLayer


class PreallocatedLayer(DynamicLayer):
    """A full-attention cache layer backed by a ``[batch, heads, capacity, head_dim]`` buffer."""

    def __init__(self, capacity: int) -> None:
        super().__init__()
        self.capacity = capacity
        self.length = 0
        self._keys = torch.empty(0)
        self._values = torch.empty(0)

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """Write ``[batch, heads, n, head_dim]`` new states after the filled part; return views of everything so far."""
        if not self.is_initialized:
            batch, heads, _, _ = key_states.shape
            self.device = key_states.device
            self._keys = key_states.new_empty(batch, heads, self.capacity, key_states.shape[-1])
            self._values = value_states.new_empty(batch, heads, self.capacity, value_states.shape[-1])
            self.is_initialized = True
        end = self.length + key_states.shape[-2]
        if end > self.capacity:
            raise RuntimeError(f"PreallocatedLayer: {end} tokens exceed the capacity of {self.capacity}")
        self._keys[:, :, self.length : end] = key_states
        self._values[:, :, self.length : end] = value_states
        self.length = end
        return self._refresh()

    def batch_repeat_interleave(self, repeats: int) -> None:
        """Repeat every row ``repeats`` times (copying only the filled part into a new, larger buffer)."""
        if self.is_initialized:
            self._keys = self._regrow(self._keys[:, :, : self.length].repeat_interleave(repeats, dim=0))
            self._values = self._regrow(self._values[:, :, : self.length].repeat_interleave(repeats, dim=0))
            self._refresh()

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        if self.is_initialized:
            self._keys, self._values = self._keys[indices], self._values[indices]
            self._refresh()

    def crop(self, tokens_to_remove: int) -> None:
        if tokens_to_remove > 0:
            raise ValueError("PreallocatedLayer.crop: pass a negative number of tokens to remove")
        self.length = max(0, self.length + tokens_to_remove)
        if self.is_initialized:
            self._refresh()

    def reset(self) -> None:
        self.length = 0
        super().reset()

    def _regrow(self, filled: torch.Tensor) -> torch.Tensor:
        buffer = filled.new_empty(*filled.shape[:2], self.capacity, filled.shape[-1])
        buffer[:, :, : self.length] = filled
        return buffer

    def _refresh(self) -> tuple[torch.Tensor, torch.Tensor]:
        keys, values = self._keys[:, :, : self.length], self._values[:, :, : self.length]
        self.keys, self.values = keys, values
        return keys, values


def generation_cache(config: PretrainedConfig, capacity: int) -> DynamicCache:
    """A `DynamicCache` for ``config`` whose full-attention layers hold ``capacity`` tokens without reallocating."""
    cache = DynamicCache(config=config)
    if cache.layers and all(type(layer) is DynamicLayer for layer in cache.layers):
        cache.layers = [PreallocatedLayer(capacity) for _ in cache.layers]
    return cache
