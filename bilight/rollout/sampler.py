"""Group sampling with a KV cache: prefill each prompt once, then decode its G completions together.

Why not ``model.generate(num_return_sequences=G)``: generate expands the prompts G times *before*
the prefill, so a GRPO step pays G prefills per prompt; here the prompt batch ``[B, P]`` goes
through the model once, the KV cache is repeated G times along the batch
(``Cache.batch_repeat_interleave``), and a plain loop decodes ``B*G`` rows. The loop also returns
what GRPO needs and generate does not give directly: the sampling log-prob of every chosen token,
a completion mask that includes EOS, and truncation flags.

Choices:

* Log-probs are ``log_softmax(logits / temperature)`` of the *unfiltered* logits (top-k/top-p only
  decide which token is drawn), which is what TRL's trainer recomputes as old log-probs, so the
  first-iteration importance ratio is 1. Greedy decoding reports ``log_softmax(logits)``.
* Positions follow ``generate`` for left padding: ``cumsum(mask) - 1`` (0 on pads) for the prompt,
  then one more per new token; the 2-D attention mask grows by a 1 per step. Finished rows keep
  being fed the pad token (masked out of the outputs), as in ``generate``.
* The KV cache is allocated once for prompt + ``max_new_tokens`` (`bilight.rollout.cache`) rather
  than grown by concatenation at every step.
* Sampling draws from the caller's ``torch.Generator``: same seed, same completions.
* The model is put in eval mode under ``torch.no_grad()`` and its previous mode is restored.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from transformers import DynamicCache, PreTrainedModel

from bilight.rollout.cache import generation_cache
from bilight.types import Rollouts


def position_ids(mask: torch.Tensor) -> torch.Tensor:
    """Positions for a (left-)padded ``[N, L]`` mask as ``generate`` builds them: ``cumsum - 1``, 0 on padding."""
    return (mask.long().cumsum(-1) - 1).masked_fill(mask == 0, 0)


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


def choose_tokens(
    logits: torch.Tensor,
    temperature: float,
    top_k: int,
    top_p: float,
    generator: torch.Generator | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pick one token per row of ``[N, V]`` logits; return ``(tokens [N], logprobs [N])``.

    ``temperature <= 0`` is greedy (argmax; log-probs at temperature 1). Otherwise the log-prob is taken
    from the temperature-scaled, unfiltered distribution and the token is drawn from the filtered one.
    """
    logits = logits.float()
    if temperature <= 0:
        tokens = logits.argmax(dim=-1)
        return tokens, F.log_softmax(logits, dim=-1).gather(-1, tokens[:, None]).squeeze(-1)
    scaled = logits / temperature
    probs = filter_logits(scaled, top_k, top_p).softmax(dim=-1)
    tokens = torch.multinomial(probs, num_samples=1, generator=generator).squeeze(-1)
    return tokens, F.log_softmax(scaled, dim=-1).gather(-1, tokens[:, None]).squeeze(-1)


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


def _prefill(
    model: PreTrainedModel, prompt_ids: torch.Tensor, prompt_mask: torch.Tensor, num_generations: int, max_new_tokens: int
) -> tuple[torch.Tensor, DynamicCache]:
    """Run the ``[B, P]`` prompts once and repeat the cache G times; return next-token logits ``[B*G, V]`` and the cache."""
    cache = generation_cache(model.config, prompt_ids.shape[1] + max_new_tokens)
    out = model(
        input_ids=prompt_ids,
        attention_mask=prompt_mask,
        position_ids=position_ids(prompt_mask),
        cache=cache,
        use_cache=True,
        logits_to_keep=1,
    )
    cache = out.cache
    if num_generations > 1:
        cache.batch_repeat_interleave(num_generations)
    return out.logits[:, -1].repeat_interleave(num_generations, dim=0), cache


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
                model, prompt_ids, prompt_mask, num_generations, max_new_tokens, eos, pad, temp, top_k, top_p, stop, generator
            )
    finally:
        model.train(was_training)


def generate_greedy(
    model: PreTrainedModel,
    prompt_ids: torch.Tensor,
    prompt_mask: torch.Tensor,
    max_new_tokens: int,
    eos_token_id: int | Sequence[int] | None,
    pad_token_id: int | None = None,
) -> Rollouts:
    """One greedy completion per prompt (validation); token for token what ``model.generate(do_sample=False)`` gives."""
    return generate(
        model, prompt_ids, prompt_mask, max_new_tokens=max_new_tokens, eos_token_id=eos_token_id, pad_token_id=pad_token_id, do_sample=False
    )


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
) -> Rollouts:
    """Prefill, then decode ``B*G`` rows one token at a time until every row ends or the budget runs out."""
    device = prompt_ids.device
    logits, cache = _prefill(model, prompt_ids, prompt_mask, num_generations, max_new_tokens)
    mask = prompt_mask.repeat_interleave(num_generations, dim=0)
    rows, prompt_len = mask.shape
    mask = torch.cat([mask, mask.new_ones(rows, max_new_tokens)], dim=1)
    next_pos = prompt_mask.long().sum(-1).repeat_interleave(num_generations)[:, None]
    eos = eos.to(device)
    finished = torch.zeros(rows, dtype=torch.bool, device=device)
    tokens: list[torch.Tensor] = []
    logprobs: list[torch.Tensor] = []
    live: list[torch.Tensor] = []
    for step in range(max_new_tokens):
        token, logprob = choose_tokens(logits, temperature, top_k, top_p, generator)
        token = token.masked_fill(finished, pad)
        live.append(~finished)
        tokens.append(token)
        logprobs.append(logprob.masked_fill(finished, 0.0))
        ended = torch.isin(token, eos) & ~finished
        if stop is not None:
            ended |= stop(torch.stack(tokens, dim=1), ~finished & ~ended)
        finished |= ended
        if bool(finished.all()) or step == max_new_tokens - 1:
            break
        out = model(
            input_ids=token[:, None],
            attention_mask=mask[:, : prompt_len + step + 1],
            position_ids=next_pos + step,
            cache=cache,
            use_cache=True,
        )
        cache = out.cache
        logits = out.logits[:, -1]
    if not tokens:
        empty = prompt_ids.new_zeros(rows, 0)
        return Rollouts(prompt_ids, prompt_mask, empty, empty, empty.float(), torch.ones(rows, dtype=torch.bool, device=device))
    return Rollouts(prompt_ids, prompt_mask, torch.stack(tokens, 1), torch.stack(live, 1).long(), torch.stack(logprobs, 1), ~finished)
