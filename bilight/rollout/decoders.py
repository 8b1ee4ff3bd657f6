"""Decode steps for the sampler: the prompt prefill, then one token per live row per step.

Why two decoders: on this CPU a GRPO step's generation was bound by per-step work that had little to do
with the model's arithmetic: re-entering the Hugging Face forward for a one-token input, attending
every row to its own G-times-repeated copy of the prompt's keys and values, and feeding rows that had
already finished. Both decoders here let the sampler drop finished rows (`select`); the Llama one
also replaces the per-token forward by a lean one.

* `HFDecoder` works for any causal LM whose forward takes ``cache``/``position_ids``: the prompt
  cache is repeated G times (`bilight.rollout.cache`), finished rows are removed with
  ``Cache.batch_select_indices``.
* `LlamaDecoder` is used for a plain `LlamaForCausalLM` (the built-in model): after the prefill
  (one HF forward) it runs the decoder layers from the model's own weights with no mask building
  or cache bookkeeping, keeps the prompt's keys/values *once per prompt* and attends the G rows of a
  group to them with one matrix product (``[G, D] x [D, P]`` instead of G matrix-vector products),
  and keeps the generated keys/values per row in buffers allocated once. Same operations as the HF
  layers (RMSNorm in float32, rotary embedding from the model's own module, softmax in float32), so
  logits agree with the HF forward to float rounding (tests: < 1e-5, same greedy tokens).
"""

from __future__ import annotations

import math
from typing import Protocol

import torch
import torch.nn.functional as F
from transformers import DynamicCache, LlamaForCausalLM, PreTrainedModel
from transformers.cache_utils import DynamicLayer

from bilight.rollout.cache import generation_cache


class Decoder(Protocol):
    """What the sampling loop needs: next-token logits for the rows still in the batch, and a way to drop rows."""

    def step(self, tokens: torch.Tensor) -> torch.Tensor:
        """Feed one token per row ``[n]``; return the next-token logits ``[n, V]``."""
        ...

    def select(self, keep: torch.Tensor) -> None:
        """Keep only the rows at positions ``keep`` (``[m]`` long) of the current batch, in that order."""
        ...


def position_ids(mask: torch.Tensor) -> torch.Tensor:
    """Positions for a (left-)padded ``[N, L]`` mask as ``generate`` builds them: ``cumsum - 1``, 0 on padding."""
    return (mask.long().cumsum(-1) - 1).masked_fill(mask == 0, 0)


def make_decoder(
    model: PreTrainedModel, prompt_ids: torch.Tensor, prompt_mask: torch.Tensor, num_generations: int, max_new_tokens: int
) -> tuple[torch.Tensor, Decoder]:
    """Prefill the ``[B, P]`` prompts; return the first next-token logits ``[B*G, V]`` and the decoder for the rest."""
    if LlamaDecoder.supports(model):
        decoder = LlamaDecoder(model, prompt_ids, prompt_mask, num_generations, max_new_tokens)
        return decoder.first_logits, decoder
    hf = HFDecoder(model, prompt_ids, prompt_mask, num_generations, max_new_tokens)
    return hf.first_logits, hf


def _prefill(
    model: PreTrainedModel, prompt_ids: torch.Tensor, prompt_mask: torch.Tensor, capacity: int
) -> tuple[torch.Tensor, DynamicCache]:
    """One HF forward over the prompts; next-token logits ``[B, V]`` and the cache (room for ``capacity`` tokens)."""
    out = model(
        input_ids=prompt_ids,
        attention_mask=prompt_mask,
        position_ids=position_ids(prompt_mask),
        cache=generation_cache(model.config, capacity),
        use_cache=True,
        logits_to_keep=1,
    )
    return out.logits[:, -1], out.cache


class HFDecoder:
    """Decode through the model's own forward; the prompt cache repeated G times, finished rows removed from it."""

    def __init__(
        self, model: PreTrainedModel, prompt_ids: torch.Tensor, prompt_mask: torch.Tensor, num_generations: int, max_new_tokens: int
    ) -> None:
        logits, self.cache = _prefill(model, prompt_ids, prompt_mask, prompt_ids.shape[1] + max_new_tokens)
        if num_generations > 1:
            self.cache.batch_repeat_interleave(num_generations)
        self.first_logits = logits.repeat_interleave(num_generations, dim=0)
        self.model = model
        mask = prompt_mask.repeat_interleave(num_generations, dim=0)
        self.mask = torch.cat([mask, mask.new_ones(mask.shape[0], max_new_tokens)], dim=1)
        self.next_pos = mask.long().sum(-1)[:, None]
        self.filled = prompt_ids.shape[1]

    def step(self, tokens: torch.Tensor) -> torch.Tensor:
        out = self.model(
            input_ids=tokens[:, None],
            attention_mask=self.mask[:, : self.filled + 1],
            position_ids=self.next_pos,
            cache=self.cache,
            use_cache=True,
        )
        self.cache, self.filled, self.next_pos = out.cache, self.filled + 1, self.next_pos + 1
        return out.logits[:, -1]

    def select(self, keep: torch.Tensor) -> None:
        self.cache.batch_select_indices(keep)
        self.mask, self.next_pos = self.mask[keep], self.next_pos[keep]


class LlamaDecoder:
    """Lean decode steps for a plain `LlamaForCausalLM` (see the module docstring).

    Layout: inside a layer the attention runs head-major (``[heads, rows, D]``), so that the G rows of a prompt
    are already the rows of one matrix for the prompt product and no score or probability tensor is
    permuted between the products; the one transposition per layer is that of the projected queries/keys/values.
    """

    @staticmethod
    def supports(model: PreTrainedModel) -> bool:
        """True for an unwrapped Llama: full attention, no biases, SiLU MLP, no tensor-parallel split, and a rotary
        embedding that depends on the position alone (not "dynamic" or "longrope", which rescale with the length)."""
        config = model.config
        return (
            type(model) is LlamaForCausalLM
            and getattr(model.model.rotary_emb, "rope_type", "default") not in ("dynamic", "longrope")
            and not getattr(config, "attention_bias", False)
            and not getattr(config, "mlp_bias", False)
            and getattr(config, "hidden_act", "silu") == "silu"
            and getattr(config, "pretraining_tp", 1) == 1
        )

    def __init__(
        self, model: PreTrainedModel, prompt_ids: torch.Tensor, prompt_mask: torch.Tensor, num_generations: int, max_new_tokens: int
    ) -> None:
        config = model.config
        batch, prompt_len = prompt_ids.shape
        rows = batch * num_generations
        logits, cache = _prefill(model, prompt_ids, prompt_mask, prompt_len)
        self.first_logits = logits.repeat_interleave(num_generations, dim=0)
        self.model, self.groups, self.prompts, self.prompt_len = model, num_generations, batch, prompt_len
        self.heads, self.kv_heads = config.num_attention_heads, config.num_key_value_heads
        self.share = self.heads // self.kv_heads  # query heads per key/value head (GQA)
        self.head_dim = getattr(config, "head_dim", None) or config.hidden_size // self.heads
        self.eps = config.rms_norm_eps
        # Scores are scaled by head_dim ** -0.5. A power of two (head_dim 4, 16, 64, 256) is folded into the query
        # weights: scaling by 2^k is exact, so q' . k = (q . k) * scaling bit for bit, one product fewer per layer.
        scaling = self.head_dim**-0.5
        folded = math.frexp(scaling)[0] == 0.5
        self.scaling = None if folded else scaling  # what the scores are still multiplied by
        # Prompt keys once per prompt, head-major and transposed [Hkv, B, D, P] (a contiguous right operand halves the
        # product's time), values [Hkv, B, P, D].
        self.prompt_kv = [(k.permute(1, 0, 3, 2).contiguous(), v.transpose(0, 1).contiguous()) for k, v in map(_filled, cache.layers)]
        # The additive mask of each row's scores [N, 1, P + max_new_tokens]: -inf on prompt padding, 0 elsewhere.
        bias = torch.zeros(rows, prompt_len + max_new_tokens, dtype=torch.float32, device=prompt_ids.device)
        bias[:, :prompt_len].masked_fill_(prompt_mask.repeat_interleave(num_generations, dim=0) == 0, float("-inf"))
        self.bias = bias[:, None]
        first = self.prompt_kv[0][1]
        self.gen_kv = [  # [keys, values] lists [Hkv, N, max_new_tokens, D], so that `select` can swap one buffer at a time
            [
                first.new_empty(self.kv_heads, rows, max_new_tokens, self.head_dim),
                first.new_empty(self.kv_heads, rows, max_new_tokens, self.head_dim),
            ]
            for _ in self.prompt_kv
        ]
        # Where each row still in the batch sits among the G rows of the prompts still held (row r of prompt b: b*G + r)
        self.rows = torch.arange(rows, device=prompt_ids.device)
        self.next_pos = prompt_mask.long().sum(-1).repeat_interleave(num_generations)
        # The rotary embedding of every position the rows can reach, from the model's own module (elementwise, so a
        # row's entry is the one a per-step call would compute), read by index at each step. The sine's first half
        # is negated so that ``rotate_half(x) * sin`` becomes ``swap_halves(x) * sin`` (a sign flip is exact).
        positions = torch.arange(prompt_len + max_new_tokens, device=prompt_ids.device)[None]
        cos, sin = model.model.rotary_emb(first, positions)
        half = sin.shape[-1] // 2
        self.cos, self.sin = cos[0], torch.cat([-sin[0, :, :half], sin[0, :, half:]], dim=-1)
        self.filled, self.compacted = 0, False
        q_scale = scaling if folded else 1.0
        self.layers = [
            (
                layer.input_layernorm.weight,
                torch.cat([layer.self_attn.q_proj.weight * q_scale, layer.self_attn.k_proj.weight, layer.self_attn.v_proj.weight]),
                layer.self_attn.o_proj.weight,
                layer.post_attention_layernorm.weight,
                torch.cat([layer.mlp.gate_proj.weight, layer.mlp.up_proj.weight]),
                layer.mlp.down_proj.weight,
            )
            for layer in model.model.layers
        ]

    def _norm(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """`LlamaRMSNorm`, operation for operation."""
        h = x.to(torch.float32)
        h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + self.eps)
        return weight * h.to(x.dtype)

    def step(self, tokens: torch.Tensor) -> torch.Tensor:
        n, t, heads, qk_heads = tokens.shape[0], self.filled, self.heads, self.heads + self.kv_heads
        x = self.model.model.embed_tokens(tokens)
        cos, sin = self.cos[self.next_pos], self.sin[self.next_pos]  # [n, D], the same for every head
        bias = self.bias[..., : self.prompt_len + t + 1]
        for (ln1, wqkv, wo, ln2, wgu, wd), (pk, pv), (gk, gv) in zip(self.layers, self.prompt_kv, self.gen_kv, strict=True):
            qkv = F.linear(self._norm(x, ln1), wqkv).view(n, -1, self.head_dim).transpose(0, 1).contiguous()  # [H + 2 Hkv, n, D]
            qk = qkv[:qk_heads]  # queries and keys rotate together: the same operations on each element
            qk = qk * cos + _swap_halves(qk) * sin
            gk[:, :, t], gv[:, :, t] = qk[heads:], qkv[qk_heads:]
            attended = self._attend(qk[:heads], pk, pv, gk[:, :, : t + 1], gv[:, :, : t + 1], bias)
            x = x + F.linear(attended, wo)
            gate, up = F.linear(self._norm(x, ln2), wgu).chunk(2, dim=-1)
            x = x + F.linear(F.silu(gate) * up, wd)
        self.filled, self.next_pos = t + 1, self.next_pos + 1
        return self.model.lm_head(self._norm(x, self.model.model.norm.weight))

    def _attend(
        self, q: torch.Tensor, pk: torch.Tensor, pv: torch.Tensor, gk: torch.Tensor, gv: torch.Tensor, bias: torch.Tensor
    ) -> torch.Tensor:
        """``q`` ``[H, n, D]`` over the shared prompt keys ``[Hkv, B, D, P]`` (transposed) and the rows' own generated keys
        ``[Hkv, n, t, D]``; returns ``[n, H * D]``.

        Query head ``h`` reads key/value head ``h // share`` (HF's ``repeat_kv``). The prompt part is one
        product per prompt and KV head, with the ``G * share`` queries that read it as the rows of one matrix.
        """
        b, g, hk, r, d, prompt_len, full = (
            self.prompts,
            self.groups,
            self.kv_heads,
            self.share,
            self.head_dim,
            pk.shape[3],
            not self.compacted,
        )
        n = q.shape[1]
        q = q.view(hk, r, n, d).transpose(1, 2)  # [Hkv, n, share, D]: a view when share is 1
        dense = q if full else q.new_zeros(hk, b * g, r, d).index_copy_(1, self.rows, q)
        prompt_scores = torch.bmm(dense.reshape(hk * b, g * r, d), pk.view(hk * b, d, prompt_len)).view(hk, b * g, r, prompt_len)
        if not full:
            prompt_scores = prompt_scores[:, self.rows]
        gen_scores = torch.bmm(q.reshape(hk * n, r, d), gk.reshape(hk * n, -1, d).transpose(1, 2)).view(hk, n, r, -1)
        scores = torch.cat([prompt_scores, gen_scores], dim=-1)  # [Hkv, n, share, P + t]
        if self.scaling is not None:
            scores = scores * self.scaling
        probs = (scores + bias).softmax(dim=-1)
        prompt_probs, gen_probs = probs[..., :prompt_len], probs[..., prompt_len:]
        if not full:
            prompt_probs = prompt_probs.new_zeros(hk, b * g, r, prompt_len).index_copy_(1, self.rows, prompt_probs)
        out = torch.bmm(prompt_probs.reshape(hk * b, g * r, prompt_len), pv.view(hk * b, prompt_len, d)).view(hk, b * g, r, d)
        if not full:
            out = out[:, self.rows]
        out = out + torch.bmm(gen_probs.reshape(hk * n, r, -1), gv.reshape(hk * n, -1, d)).view(hk, n, r, d)
        return out.permute(1, 0, 2, 3).reshape(n, self.heads * d)

    def select(self, keep: torch.Tensor) -> None:
        t = self.filled
        # One buffer at a time, each old one released as its copy replaces it: the peak is the cache plus one buffer,
        # not twice the cache (a dynamic-sampling refill decodes up to 512 rows at once).
        for pair in self.gen_kv:
            for j in range(2):
                pair[j] = _keep_rows(pair[j], keep, t)
        self.rows, self.next_pos, self.bias = self.rows[keep], self.next_pos[keep], self.bias[keep]
        # Prompts none of whose rows is left go too, so that the prompt products of the last steps (a few long
        # completions) run over the groups still decoding, not over every group of the batch.
        groups = torch.div(self.rows, self.groups, rounding_mode="floor")
        held = torch.unique(groups)  # ascending, like the rows
        if held.numel() < self.prompts:
            self.prompt_kv = [(k[:, held], v[:, held]) for k, v in self.prompt_kv]
            self.rows = torch.searchsorted(held, groups) * self.groups + self.rows % self.groups
            self.prompts = held.numel()
        self.compacted = self.rows.numel() < self.prompts * self.groups  # else every held prompt's G rows are left, in order


def _filled(layer: object) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``(keys, values)`` a prefilled full-attention cache layer holds."""
    if not isinstance(layer, DynamicLayer) or layer.keys is None or layer.values is None:
        raise TypeError(f"LlamaDecoder: the prefill left no keys/values in a {type(layer).__name__}")
    return layer.keys, layer.values


def _keep_rows(buffer: torch.Tensor, keep: torch.Tensor, filled: int) -> torch.Tensor:
    """A new ``[H, m, capacity, D]`` buffer holding the filled part of the kept rows."""
    out = buffer.new_empty(buffer.shape[0], keep.numel(), *buffer.shape[2:])
    out[:, :, :filled] = buffer[:, keep, :filled]
    return out


def _swap_halves(x: torch.Tensor) -> torch.Tensor:
    """HF's ``rotate_half`` without its sign flip (the decoder's sine table carries it)."""
    half = x.shape[-1] // 2
    return torch.cat((x[..., half:], x[..., :half]), dim=-1)
