"""The group sampler against ``model.generate`` and a teacher-forced forward on a tiny random Llama."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from transformers import LlamaForCausalLM

from bilight.losses import token_logprobs
from bilight.rollout import filter_logits, generate, position_ids

from .conftest import EOS, PAD

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


def test_prefill_once_per_prompt(model: LlamaForCausalLM, prompts: Prompts) -> None:
    ids, mask = prompts
    shapes: list[tuple[int, ...]] = []

    def hook(_module: torch.nn.Module, _args: Any, kwargs: dict[str, Any]) -> None:
        shapes.append(tuple(kwargs["input_ids"].shape))

    handle = model.register_forward_pre_hook(hook, with_kwargs=True)
    try:
        out = generate(model, ids, mask, max_new_tokens=4, eos_token_id=None, num_generations=8, generator=torch.Generator().manual_seed(0))
    finally:
        handle.remove()
    assert shapes[0] == (3, 5)  # B rows, not B*G
    assert shapes[1:] == [(24, 1)] * 3  # then one token for each of the B*G rows per step
    assert out.truncated.all() and out.completion_ids.shape == (24, 4)


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
