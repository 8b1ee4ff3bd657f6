"""The group sampler against ``model.generate`` and a teacher-forced forward on a tiny random Llama."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from bilight.losses import token_logprobs
from bilight.modules.grpo_batch import prepend_to_groups
from bilight.rollout import filter_logits, generate, inverse_cdf, position_ids, sampler
from bilight.rollout.decoders import LlamaDecoder, make_decoder
from bilight.types import Rollouts

from .conftest import EOS, PAD, VOCAB

Prompts = tuple[torch.Tensor, torch.Tensor]


def _teacher_forced(
    model: LlamaForCausalLM, ids: torch.Tensor, mask: torch.Tensor, completion: torch.Tensor, cmask: torch.Tensor, temperature: float
) -> torch.Tensor:
    """log_softmax(logits / temperature) of the completion tokens, from one forward over prompt + completion."""
    full_ids, full_mask = torch.cat([ids, completion], 1), torch.cat([mask, cmask], 1)
    with torch.no_grad():
        logits = model(input_ids=full_ids, attention_mask=full_mask).logits[:, ids.shape[1] - 1 : -1]
    return token_logprobs(logits / temperature, completion)


@pytest.mark.parametrize("early_end", [False, True])
def test_greedy_equals_hf_generate(model: LlamaForCausalLM, prompts: Prompts, early_end: bool) -> None:
    ids, mask = prompts
    eos = [EOS]
    if early_end:  # also end on the token row 0 emits at step 3, so rows finish at different steps
        eos.append(int(generate(model, ids, mask, max_new_tokens=4, eos_token_id=None, do_sample=False).completion_ids[0, 3]))
    ours = generate(model, ids, mask, max_new_tokens=12, eos_token_id=eos, do_sample=False)
    theirs = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=12, do_sample=False, eos_token_id=eos, pad_token_id=PAD)
    hf = theirs[:, ids.shape[1] :]
    assert torch.equal(ours.completion_ids, hf[:, : ours.completion_ids.shape[1]])
    assert (hf[:, ours.completion_ids.shape[1] :] == PAD).all()  # generate only ran further if some row was still going
    if early_end:
        assert ours.completion_mask[0].sum() <= 4 and not ours.truncated[0]
        assert ours.truncated[1:].any()


def test_greedy_group_rows_are_identical(model: LlamaForCausalLM, prompts: Prompts) -> None:
    ids, mask = prompts
    single = generate(model, ids, mask, max_new_tokens=8, eos_token_id=EOS, do_sample=False).completion_ids
    grouped = generate(model, ids, mask, max_new_tokens=8, eos_token_id=EOS, num_generations=3, do_sample=False).completion_ids
    assert torch.equal(grouped, single.repeat_interleave(3, 0))


def test_sampled_logprobs_match_teacher_forcing(model: LlamaForCausalLM, prompts: Prompts) -> None:
    ids, mask = prompts
    gen = torch.Generator().manual_seed(1)
    out = generate(
        model, ids, mask, max_new_tokens=10, eos_token_id=EOS, num_generations=3, temperature=0.7, top_p=0.9, top_k=20, generator=gen
    )
    rep_ids, rep_mask = ids.repeat_interleave(3, 0), mask.repeat_interleave(3, 0)
    forced = _teacher_forced(model, rep_ids, rep_mask, out.completion_ids, out.completion_mask, 0.7)
    m = out.completion_mask.bool()
    torch.testing.assert_close(out.logprobs[m], forced[m], atol=1e-4, rtol=0)
    assert (out.logprobs[~m] == 0).all()


def test_same_seed_same_samples(model: LlamaForCausalLM, prompts: Prompts) -> None:
    ids, mask = prompts

    def run(seed: int) -> torch.Tensor:
        return generate(
            model, ids, mask, max_new_tokens=8, eos_token_id=EOS, num_generations=4, generator=torch.Generator().manual_seed(seed)
        ).completion_ids

    a, b, c = run(3), run(3), run(4)
    assert torch.equal(a, b)
    assert a.shape != c.shape or not torch.equal(a, c)
    assert len({tuple(r.tolist()) for r in a}) > 1  # the G rows of a group differ


def test_shapes_masks_and_eos(model: LlamaForCausalLM, prompts: Prompts) -> None:
    ids, mask = prompts
    eos = list(range(2, 12))  # many end tokens: most rows end early, some may not
    out = generate(model, ids, mask, max_new_tokens=6, eos_token_id=eos, num_generations=5, generator=torch.Generator().manual_seed(0))
    n, t = out.completion_ids.shape
    assert n == 15 and 1 <= t <= 6
    assert out.completion_mask.shape == out.logprobs.shape == (n, t) and out.truncated.shape == (n,)
    for row, m, trunc in zip(out.completion_ids.tolist(), out.completion_mask.tolist(), out.truncated.tolist(), strict=True):
        length = sum(m)
        assert m == [1] * length + [0] * (t - length)  # a prefix of ones
        assert all(tok == PAD for tok in row[length:])
        ends = [i for i, tok in enumerate(row[:length]) if tok in eos]
        if trunc:
            assert not ends and length == 6
        else:
            assert ends == [length - 1]  # the mask includes the EOS, nothing after it
    assert not out.truncated.all()


@pytest.mark.parametrize("lean", [True, False])
def test_prefill_once_per_prompt(model: LlamaForCausalLM, prompts: Prompts, lean: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    ids, mask = prompts
    if not lean:
        monkeypatch.setattr(LlamaDecoder, "supports", staticmethod(lambda _model: False))
    shapes: list[tuple[int, ...]] = []

    def hook(_module: torch.nn.Module, _args: Any, kwargs: dict[str, Any]) -> None:
        shapes.append(tuple(kwargs["input_ids"].shape))

    handle = model.register_forward_pre_hook(hook, with_kwargs=True)
    try:
        out = generate(model, ids, mask, max_new_tokens=4, eos_token_id=None, num_generations=8, generator=torch.Generator().manual_seed(0))
    finally:
        handle.remove()
    assert shapes[0] == (3, 5)  # B rows, not B*G
    # then one token for each of the B*G rows per step, through the HF forward or the lean Llama steps (no HF forward)
    assert shapes[1:] == ([] if lean else [(24, 1)] * 3)
    assert out.truncated.all() and out.completion_ids.shape == (24, 4)


def _outputs(out: Rollouts) -> tuple[torch.Tensor, ...]:
    return out.completion_ids, out.completion_mask, out.truncated


def test_lean_decoder_only_for_a_rotary_embedding_of_the_position_alone() -> None:
    """The lean decoder reads a table of every position's rotary embedding, built once: not for the kinds that rescale
    with the sequence length."""
    kwargs: dict[str, Any] = dict(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=4)
    assert LlamaDecoder.supports(LlamaForCausalLM(LlamaConfig(**kwargs)))
    dynamic = {"rope_type": "dynamic", "factor": 2.0, "rope_theta": 10000.0}
    assert not LlamaDecoder.supports(LlamaForCausalLM(LlamaConfig(**kwargs, rope_parameters=dynamic)))


@pytest.mark.parametrize("hidden", [32, 64])  # head_dim 8 (scores scaled by 8 ** -0.5) and 16 (0.25 folded into the queries)
@pytest.mark.parametrize("kv_heads", [4, 2, 1])
def test_lean_llama_steps_match_the_hf_forward(prompts: Prompts, kv_heads: int, hidden: int) -> None:
    """Logits of the lean decode steps equal a teacher-forced HF forward, with and without GQA, after rows are dropped,
    then after whole groups are dropped."""
    config = LlamaConfig(
        vocab_size=VOCAB, hidden_size=hidden, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=kv_heads, pad_token_id=PAD, eos_token_id=EOS, bos_token_id=1,
    )  # fmt: skip
    torch.manual_seed(0)
    model = LlamaForCausalLM(config).eval()
    ids, mask = prompts
    g, steps = 2, 6
    tokens = torch.randint(3, VOCAB, (ids.shape[0] * g, steps), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        first, decoder = make_decoder(model, ids, mask, g, steps)
        assert isinstance(decoder, LlamaDecoder)
        assert (decoder.scaling is None) == (hidden == 64)
        lean = [first, decoder.step(tokens[:, 0])]
        keep = torch.tensor([2, 3, 5])  # drop the first group (rows 0, 1) and a member of the third (row 4)
        decoder.select(keep)
        assert decoder.prompts == 2 and decoder.compacted
        lean += [decoder.step(tokens[keep, t]) for t in (1, 2)]
        decoder.select(torch.tensor([0, 1]))  # rows 2 and 3 are left: the second group, whole; the third goes
        assert decoder.prompts == 1 and not decoder.compacted
        lean += [decoder.step(tokens[[2, 3], t]) for t in (3, 4)]
        rep_ids, rep_mask = ids.repeat_interleave(g, 0), mask.repeat_interleave(g, 0)
        full_mask = torch.cat([rep_mask, torch.ones_like(tokens)], 1)
        hf = model(input_ids=torch.cat([rep_ids, tokens], 1), attention_mask=full_mask, position_ids=position_ids(full_mask)).logits
    hf = hf[:, ids.shape[1] - 1 :]
    torch.testing.assert_close(torch.stack(lean[:2], 1), hf[:, :2], atol=1e-5, rtol=0)
    torch.testing.assert_close(torch.stack(lean[2:4], 1), hf[keep, 2:4], atol=1e-5, rtol=0)
    torch.testing.assert_close(torch.stack(lean[4:], 1), hf[[2, 3], 4:6], atol=1e-5, rtol=0)


@pytest.mark.parametrize("top_k, top_p", [(0, 1.0), (10, 0.9)])
def test_dropping_finished_rows_and_the_lean_steps_change_no_token(
    model: LlamaForCausalLM, prompts: Prompts, monkeypatch: pytest.MonkeyPatch, top_k: int, top_p: float
) -> None:
    """Same seed, same completions and generator state: lean or HF decoder, rows dropped as they end or never."""
    ids, mask = prompts
    eos = [EOS, 5, 9, 13]  # rows end at many different steps

    def run() -> tuple[tuple[torch.Tensor, ...], torch.Tensor, torch.Tensor]:
        gen = torch.Generator().manual_seed(3)
        out = generate(
            model,
            ids,
            mask,
            max_new_tokens=20,
            eos_token_id=eos,
            num_generations=6,
            temperature=0.8,
            top_k=top_k,
            top_p=top_p,
            generator=gen,
        )
        return _outputs(out), out.logprobs, gen.get_state()

    lean_tokens, lean_logprobs, lean_state = run()
    assert lean_tokens[1].sum(1).unique().numel() > 3  # rows of many lengths
    monkeypatch.setattr(sampler, "COMPACT_SHARE", 0)  # never drop rows
    monkeypatch.setattr(LlamaDecoder, "supports", staticmethod(lambda _model: False))  # the HF forward
    hf_tokens, hf_logprobs, hf_state = run()
    assert all(torch.equal(a, b) for a, b in zip(lean_tokens, hf_tokens, strict=True))
    torch.testing.assert_close(lean_logprobs, hf_logprobs, atol=1e-5, rtol=0)
    assert torch.equal(lean_state, hf_state)


def test_inverse_cdf_by_hand() -> None:
    """The first token whose cumulative probability exceeds u x total; a zero-probability token is never drawn."""
    probs = torch.tensor([[0.5, 0.25, 0.25, 0.0]]).expand(7, 4)
    u = torch.tensor([0.0, 0.4999, 0.5, 0.7499, 0.75, 0.9999, 1 - 2**-53], dtype=torch.float64)  # the largest torch.rand
    assert inverse_cdf(probs, u).tolist() == [0, 0, 1, 1, 2, 2, 2]
    assert inverse_cdf(probs * 3, u).tolist() == [0, 0, 1, 1, 2, 2, 2]  # rows need not sum to 1
    assert inverse_cdf(torch.tensor([[0.0, 1.0, 0.0]]), torch.tensor([0.0])).tolist() == [1]


@pytest.mark.parametrize("top_k, top_p", [(0, 1.0), (5, 0.8)])
def test_sampled_tokens_follow_the_softmax_distribution(model: LlamaForCausalLM, prompts: Prompts, top_k: int, top_p: float) -> None:
    """The distribution ``torch.multinomial`` draws from: over 8,000 samples of one prompt's first token, every token's
    frequency is within 5 standard errors of ``softmax(filter(logits / T))``, and filtered tokens never appear."""
    ids, mask = prompts[0][:1], prompts[1][:1]
    temperature, n = 0.03, 8000  # a random model's logits are nearly flat: a low temperature makes the target uneven
    with torch.no_grad():
        logits = model(input_ids=ids, attention_mask=mask, position_ids=position_ids(mask)).logits[0, -1]
    probs = filter_logits(logits[None] / temperature, top_k, top_p).softmax(-1)[0].double()
    assert probs.max() > 0.1 and (probs > 0.01).sum() >= 3  # uneven, and more than one likely token
    out = generate(
        model, ids, mask, max_new_tokens=1, eos_token_id=None, num_generations=n, temperature=temperature, top_k=top_k,
        top_p=top_p, generator=torch.Generator().manual_seed(5),
    )  # fmt: skip
    freq = torch.bincount(out.completion_ids[:, 0], minlength=VOCAB).double() / n
    assert ((freq - probs).abs() <= 5 * (probs * (1 - probs) / n).sqrt()).all()
    assert (freq[probs == 0] == 0).all()


def test_greedy_first_equals_a_greedy_call_plus_a_sampling_call(model: LlamaForCausalLM, prompts: Prompts) -> None:
    """Member 0 greedy in the same loop = the greedy completion prepended to G-1 samples; the generator advances alike."""
    ids, mask = prompts
    eos = [EOS, 5, 9]
    kwargs: dict[str, Any] = {"max_new_tokens": 15, "eos_token_id": eos, "temperature": 0.9, "top_k": 20}
    separate_gen, folded_gen = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
    sampled = generate(model, ids, mask, num_generations=3, generator=separate_gen, **kwargs)
    greedy = generate(model, ids, mask, do_sample=False, **kwargs)
    separate = prepend_to_groups(greedy, sampled, PAD)
    folded = generate(model, ids, mask, num_generations=4, generator=folded_gen, greedy_first=True, **kwargs)
    assert all(torch.equal(a, b) for a, b in zip(_outputs(separate), _outputs(folded), strict=True))
    torch.testing.assert_close(separate.logprobs, folded.logprobs, atol=1e-6, rtol=0)
    assert torch.equal(separate_gen.get_state(), folded_gen.get_state())


def test_stop_strings_end_a_completion(model: LlamaForCausalLM, prompts: Prompts) -> None:
    ids, mask = prompts

    def decode(tokens: list[int]) -> str:
        return "".join(f"<{t}>" for t in tokens)

    base = generate(model, ids, mask, max_new_tokens=8, eos_token_id=None, do_sample=False)
    target = int(base.completion_ids[0, 2])  # row 0 emits this token at step 2 (maybe earlier too)
    out = generate(model, ids, mask, max_new_tokens=8, eos_token_id=None, do_sample=False, stop_strings=[f"<{target}>"], decode=decode)
    first = base.completion_ids[0].tolist().index(target)
    assert out.completion_mask[0].sum().item() == first + 1 and not out.truncated[0]
    with pytest.raises(ValueError, match="decode"):
        generate(model, ids, mask, max_new_tokens=2, eos_token_id=None, stop_strings=["x"])


def test_mode_is_restored_and_no_grad(model: LlamaForCausalLM, prompts: Prompts) -> None:
    ids, mask = prompts
    model.train()
    try:
        out = generate(model, ids, mask, max_new_tokens=3, eos_token_id=EOS, generator=torch.Generator().manual_seed(0))
        assert model.training and not out.logprobs.requires_grad
    finally:
        model.eval()


def test_filter_logits_top_k_top_p() -> None:
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    assert torch.isinf(filter_logits(logits, top_k=2)).tolist() == [[False, False, True, True]]
    assert torch.isinf(filter_logits(logits, top_p=0.75)).tolist() == [[False, False, True, True]]
    assert torch.isinf(filter_logits(logits, top_p=0.85)).tolist() == [[False, False, False, True]]
    assert torch.equal(position_ids(torch.tensor([[0, 0, 1, 1, 1]])), torch.tensor([[0, 0, 0, 1, 2]]))
