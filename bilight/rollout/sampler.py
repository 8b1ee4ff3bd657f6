"""Group sampling: prefill each prompt once, decode its G completions together, drop rows as they finish.

Why not ``model.generate(num_return_sequences=G)``: generate expands the prompts G times *before*
the prefill, so a GRPO step pays G prefills per prompt, and it feeds every row until the longest
completion ends. Here the prompt batch ``[B, P]`` goes through the model once, a decoder
(`bilight.rollout.decoders`: a lean one for the built-in Llama model, the HF forward otherwise)
decodes the ``B*G`` rows, and rows that have finished are removed from the batch and the cache once
they are an eighth of it. The loop also returns what GRPO needs and generate does not give
directly: the sampling log-prob of every chosen token, a completion mask that includes EOS, and
truncation flags.

Choices:

* Log-probs are ``log_softmax(logits / temperature)`` of the *unfiltered* logits (top-k/top-p only
  decide which token is drawn), which is what TRL's trainer recomputes as old log-probs, so the
  first-iteration importance ratio is 1. Greedy decoding reports ``log_softmax(logits)``.
* Sampling is by the inverse of the cumulative distribution: one uniform ``u`` per row, the token is the first
  whose cumulative probability exceeds ``u`` times the total (`inverse_cdf`; float64 sums). That is the
  distribution ``torch.multinomial`` draws from, at one random number per row instead of one per vocabulary
  entry (multinomial's exponential race cost 14% of a generation here). The uniforms are drawn for every
  sampled row of the original batch at each step while any of them is still running, so dropping finished
  rows, or decoding through the HF forward instead of the lean one, changes no token: same seed, same completions.
* ``greedy_first``: member 0 of each group is decoded greedily in the same loop (one prefill, one
  decode loop), the G-1 others are sampled; tokens, log-probs and the generator's advance are those
  of a greedy call plus a sampling call with G-1 per prompt.
* Positions follow ``generate`` for left padding: ``cumsum(mask) - 1`` (0 on pads) for the prompt,
  then one more per new token.
* The model is put in eval mode under ``torch.no_grad()`` and its previous mode is restored.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from transformers import PreTrainedModel

from bilight.rollout.decoders import make_decoder, position_ids
from bilight.types import Rollouts

__all__ = ["COMPACT_SHARE", "filter_logits", "generate", "inverse_cdf", "position_ids"]

# Finished rows leave the batch (and the KV cache) once they are at least 1/COMPACT_SHARE of it.
COMPACT_SHARE = 8


def inverse_cdf(probs: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Draw one token per row of ``[N, V]`` (unnormalised) probabilities from ``[N]`` uniforms in ``[0, 1)``.

    The token is the first whose cumulative probability exceeds ``u`` times the row's total, so token ``v`` is drawn
    with probability ``probs[v] / total`` (to float64 rounding) and a zero-probability token never: ``u * total`` stays
    below the total, since a float64 product with a factor below 1 never rounds up to the other factor.
    """
    cdf = probs.double().cumsum(-1)
    return torch.searchsorted(cdf, u.double()[:, None] * cdf[:, -1:], right=True).squeeze(-1)


def filter_logits(logits: torch.Tensor, top_k: int = 0, top_p: float = 1.0) -> torch.Tensor:
    """Set logits outside the top-k, then outside the top-p nucleus, to -inf (HF's warpers, same order and ties)."""
    if 0 < top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p < 1.0:
        sorted_logits, order = torch.sort(logits, descending=False, dim=-1)
        cumulative = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
        remove_sorted = cumulative <= (1 - top_p)
        remove_sorted[..., -1:] = False  # always keep the most likely token
        remove = remove_sorted.scatter(-1, order, remove_sorted)
        logits = logits.masked_fill(remove, float("-inf"))
    return logits


class StopStrings:
    """Detects stop strings in the newest tokens of each row, decoding only a short tail per step."""

    def __init__(self, stop_strings: Sequence[str], decode: Callable[[list[int]], str]) -> None:
        if any(not s for s in stop_strings):
            raise ValueError("stop_strings: empty strings would stop every completion at once")
        self.stop_strings = tuple(stop_strings)
        self.decode = decode
        # A stop string ending at the newest token spans at most len(s) tokens that decode to >= 1 character;
        # the slack covers tokens that decode to nothing (special or partial-byte tokens).
        self.window = max(len(s) for s in self.stop_strings) + 8

    def __call__(self, tokens: torch.Tensor, active: torch.Tensor) -> torch.Tensor:
        """``tokens`` ``[N, t]`` generated so far, ``active`` ``[N]`` bool -> ``[N]`` bool, True where a stop string just appeared."""
        hit = torch.zeros_like(active)
        tail = tokens[:, -self.window :].tolist()
        for row in active.nonzero().flatten().tolist():
            text = self.decode(tail[row])
            hit[row] = any(s in text for s in self.stop_strings)
        return hit


def generate(
    model: PreTrainedModel,
    prompt_ids: torch.Tensor,
    prompt_mask: torch.Tensor,
    *,
    max_new_tokens: int,
    eos_token_id: int | Sequence[int] | None,
    pad_token_id: int | None = None,
    num_generations: int = 1,
    temperature: float = 1.0,
    top_p: float = 1.0,
    top_k: int = 0,
    do_sample: bool = True,
    stop_strings: Sequence[str] = (),
    decode: Callable[[list[int]], str] | None = None,
    generator: torch.Generator | None = None,
    greedy_first: bool = False,
) -> Rollouts:
    """Sample ``num_generations`` completions for each left-padded prompt, prefilling each prompt once.

    Args:
        model: a Hugging Face causal LM whose forward takes ``cache``/``use_cache``/``position_ids``/``logits_to_keep``.
        prompt_ids: ``[B, P]`` left-padded prompt ids. prompt_mask: ``[B, P]`` 1 on real tokens.
        max_new_tokens: the generation budget per completion.
        eos_token_id: id(s) that end a completion (kept in the completion and its mask); None: never.
        pad_token_id: fills completions after their end; defaults to ``model.config.pad_token_id``, then EOS, then 0.
        num_generations: G completions per prompt; rows ``b*G:(b+1)*G`` belong to prompt ``b``.
        temperature, top_p, top_k: sampling controls (HF meanings; ``top_k=0`` disables it).
        do_sample: False, or ``temperature <= 0``, decodes greedily.
        stop_strings: a completion also ends at the token that completes one of these (needs ``decode``).
        decode: token ids -> text, e.g. ``partial(tokenizer.decode, skip_special_tokens=True)``.
        generator: the ``torch.Generator`` sampling draws from (on the logits' device).
        greedy_first: member 0 of every group is the greedy completion (same loop), members 1..G-1 are sampled.
    """
    if stop_strings and decode is None:
        raise ValueError("generate: stop_strings need a decode function (token ids -> text)")
    eos_ids = [] if eos_token_id is None else [eos_token_id] if isinstance(eos_token_id, int) else list(eos_token_id)
    eos = torch.tensor(eos_ids, dtype=torch.long)
    pad = _pad_id(model, pad_token_id, eos)
    temp = temperature if do_sample else 0.0
    stop = StopStrings(stop_strings, decode) if stop_strings and decode is not None else None
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            return _decode_loop(
                model, prompt_ids, prompt_mask, num_generations, max_new_tokens, eos, pad, temp, top_k, top_p, stop, generator, greedy_first
            )
    finally:
        model.train(was_training)


def _pad_id(model: PreTrainedModel, pad_token_id: int | None, eos: torch.Tensor) -> int:
    if pad_token_id is not None:
        return pad_token_id
    configured = getattr(model.config, "pad_token_id", None)
    if isinstance(configured, int):
        return configured
    return int(eos[0]) if eos.numel() else 0


def _decode_loop(
    model: PreTrainedModel,
    prompt_ids: torch.Tensor,
    prompt_mask: torch.Tensor,
    num_generations: int,
    max_new_tokens: int,
    eos: torch.Tensor,
    pad: int,
    temperature: float,
    top_k: int,
    top_p: float,
    stop: StopStrings | None,
    generator: torch.Generator | None,
    greedy_first: bool,
) -> Rollouts:
    """Prefill, then decode until every row ends or the budget runs out, dropping finished rows from the batch."""
    device = prompt_ids.device
    rows = prompt_ids.shape[0] * num_generations
    greedy = torch.full((rows,), temperature <= 0, dtype=torch.bool, device=device)
    if greedy_first:
        greedy[::num_generations] = True
    sampled = (~greedy).nonzero().flatten()  # original rows that draw noise, in the noise's row order
    slot = torch.full((rows,), -1, dtype=torch.long, device=device)
    slot[sampled] = torch.arange(sampled.numel(), device=device)
    out_tokens = torch.full((rows, max_new_tokens), pad, dtype=torch.long, device=device)
    out_logprobs = torch.zeros(rows, max_new_tokens, device=device)
    out_live = torch.zeros(rows, max_new_tokens, dtype=torch.bool, device=device)
    if max_new_tokens == 0:
        empty = prompt_ids.new_zeros(rows, 0)
        return Rollouts(prompt_ids, prompt_mask, empty, empty, empty.float(), torch.ones(rows, dtype=torch.bool, device=device))
    logits, decoder = make_decoder(model, prompt_ids, prompt_mask, num_generations, max_new_tokens)
    eos = eos.to(device)
    # Per row of the decoder's batch (rows leave it when finished): its original row, whether it has finished, whether
    # it decodes greedily (and whether it samples), and which of the step's uniforms is its own.
    alive, done, greedy_rows, noise = torch.arange(rows, device=device), torch.zeros_like(greedy), greedy, slot.clamp(min=0)
    sampling_rows = ~greedy_rows
    running_sampled, steps = sampled.numel(), 0
    for step in range(max_new_tokens):
        u = None
        if running_sampled:  # the uniforms of every sampled row of the batch, while any of them is running
            u = torch.rand(sampled.numel(), generator=generator, device=device, dtype=torch.float64)[noise]
        token, logprob = _choose(logits, greedy_rows, u, temperature, top_k, top_p)
        live = ~done
        token, logprob = token.masked_fill(done, pad), logprob.masked_fill(done, 0.0)
        out_tokens[alive, step], out_logprobs[alive, step], out_live[alive, step] = token, logprob, live
        ended = torch.isin(token, eos) & live
        if stop is not None:
            ended |= stop(out_tokens[alive, : step + 1], live & ~ended)
        done = done | ended
        steps = step + 1
        running = ~done
        running_rows, running_sampled = torch.stack([running.sum(), (running & sampling_rows).sum()]).tolist()
        if running_rows == 0 or step == max_new_tokens - 1:
            break
        if (done.numel() - running_rows) * COMPACT_SHARE >= done.numel():
            keep = running.nonzero().flatten()
            decoder.select(keep)
            alive, token, done = alive[keep], token[keep], done[keep]
            greedy_rows, noise = greedy[alive], slot[alive].clamp(min=0)
            sampling_rows = ~greedy_rows
        logits = decoder.step(token)
    finished = torch.ones_like(greedy)  # rows that left the batch had finished
    finished[alive] = done
    return Rollouts(prompt_ids, prompt_mask, out_tokens[:, :steps], out_live[:, :steps].long(), out_logprobs[:, :steps], ~finished)


def _choose(
    logits: torch.Tensor,
    greedy: torch.Tensor,
    u: torch.Tensor | None,
    temperature: float,
    top_k: int,
    top_p: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Tokens and log-probs ``[n]``: argmax where ``greedy``, else the `inverse_cdf` draw of each row's uniform ``u`` (any
    value on greedy rows)."""
    logits = logits.float()
    tokens = logits.argmax(dim=-1)
    logprobs = F.log_softmax(logits, dim=-1)
    if u is None or temperature <= 0:
        return tokens, logprobs.gather(-1, tokens[:, None]).squeeze(-1)
    scaled = logits if temperature == 1.0 else logits / temperature  # x / 1.0 is x: the same values, one pass fewer
    probs = filter_logits(scaled, top_k, top_p).softmax(dim=-1)
    tokens = torch.where(greedy, tokens, inverse_cdf(probs, u))
    if temperature == 1.0:  # greedy and sampled rows read the same log-probs
        return tokens, logprobs.gather(-1, tokens[:, None]).squeeze(-1)
    picked = torch.where(greedy[:, None], logprobs, F.log_softmax(scaled, dim=-1))
    return tokens, picked.gather(-1, tokens[:, None]).squeeze(-1)
