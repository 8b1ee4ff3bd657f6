"""How the GRPO update runs the prompts under its completions: once per row (`RowPrompts`) or once per step (`SharedPrompts`).

Why: the update needs the logits of every completion token, which depend on the prompt before it. A
row's own forward over prompt + completion (`RowPrompts`) repeats the prompt's work for each of the G
completions that share it. `SharedPrompts` runs the step's B prompts through the model once, keeps their
keys/values and the logits of their last position, and lets any micro-batch of completion rows attend
to the keys/values of its rows' prompts. The micro-batches can then hold rows of similar length from
any group (the update sorts rows by length), so neither the prompt nor a group's longest completion
is paid for G times: on the shipped GRPO config a whole-group micro-batch was a third padding.

The gradient: the prompts are first forwarded without a graph, and each micro-batch's backward stops at
detached copies of the rows of the prompt outputs it reads, whose gradients are added into one gradient per
output (`SharedPrompts.grads`) as the backward reaches them. After the last micro-batch,
`SharedPrompts.surrogate` runs the prompt forward again, with grad, and is a scalar whose backward sends those
accumulated gradients through it once: so no prompt activations are held while the micro-batches run (a
second prompt forward, about a tenth of the update's tokens, buys that).
The second forward goes in pieces of length-sorted prompts (`surrogate_batches`), each backwarded before the next
is built, so it holds no more activations than a micro-batch: all the step's prompts at once raised the peak
resident memory of the shipped GRPO run by ~0.13 GB.
The result is the per-row forward's gradient to float rounding (tests). The surrogate goes through
``manual_backward`` like the losses, so DDP synchronises on it; under fp16 loss scaling the collected gradients
would carry the scale twice, so `GRPOModule` keeps `RowPrompts` there.
"""

from __future__ import annotations

import contextlib
from typing import Any, Protocol

import torch
from transformers import DynamicCache

from bilight.modules.grpo_batch import length_buckets
from bilight.rollout.sampler import position_ids


def padding_columns(prompt_mask: torch.Tensor) -> int:
    """Leading columns of a left-padded ``[n, P]`` mask that are padding in every row (at least one column is kept).

    Positions come from the mask and padding is masked out of attention, so dropping them changes no logit
    (to float rounding); only the work on padding goes.
    """
    return prompt_mask.shape[1] - max(int(prompt_mask.sum(1).max()), 1) if prompt_mask.numel() else 0


class PromptSource(Protocol):
    """What the update asks of its prompts: the raw logits ``[n, T, V]`` predicting the completion tokens of some rows."""

    def logits(self, model: Any, rows: torch.Tensor, completion_ids: torch.Tensor, completion_mask: torch.Tensor) -> torch.Tensor:
        """Logits for the completion rows ``rows`` (``[n]`` indices into the ``B * G`` rows), ``[n, T]`` ids and mask."""
        ...


class RowPrompts:
    """Each row's prompt forwarded with its completion: one forward over prompt + completion per row.

    Args:
        prompt_ids: ``[B, P]`` left-padded prompts; prompt_mask: ``[B, P]``.
        group_size: G, the completion rows per prompt (row ``r`` continues prompt ``r // G``).
    """

    def __init__(self, prompt_ids: torch.Tensor, prompt_mask: torch.Tensor, group_size: int) -> None:
        self.prompt_ids, self.prompt_mask, self.group_size = prompt_ids, prompt_mask, group_size

    def logits(self, model: Any, rows: torch.Tensor, completion_ids: torch.Tensor, completion_mask: torch.Tensor) -> torch.Tensor:
        groups = rows // self.group_size
        prompt_mask = self.prompt_mask[groups]
        cut = padding_columns(prompt_mask)
        tokens = torch.cat([self.prompt_ids[groups, cut:], completion_ids], dim=1)
        attention = torch.cat([prompt_mask[:, cut:], completion_mask], dim=1)
        # Only the positions that predict completion tokens go through the LM head.
        keep = completion_ids.shape[1] + 1
        out = model(input_ids=tokens, attention_mask=attention, position_ids=position_ids(attention), logits_to_keep=keep)
        return out.logits[:, :-1]


class SharedPrompts:
    """The prompts forwarded once; completion rows attend to their prompt's keys/values (see the module docstring).

    Args:
        model: the causal LM (its forward takes ``use_cache``/``cache``/``position_ids``/``logits_to_keep``).
        prompt_ids: ``[B, P]`` left-padded prompts; prompt_mask: ``[B, P]``.
        group_size: G, the completion rows per prompt (row ``r`` continues prompt ``r // G``).
        detach: micro-batches read detached copies of the prompt outputs and `surrogate` carries their gradients
            back (the update's micro-batches); False: they read the outputs themselves (one call, plain autograd).
    """

    def __init__(self, model: Any, prompt_ids: torch.Tensor, prompt_mask: torch.Tensor, group_size: int, detach: bool = True) -> None:
        self.model, self.prompt_ids, self.prompt_mask, self.group_size = model, prompt_ids, prompt_mask, group_size
        self.detach = detach and torch.is_grad_enabled()
        # Detached: no graph is kept while the micro-batches run; `surrogate` runs the forward again to backpropagate.
        with torch.no_grad() if self.detach else contextlib.nullcontext():
            self.outputs = self._forward(prompt_ids, prompt_mask)
        # Detached: the gradient at each output, summed over the micro-batches that read it (`_read`), for `surrogate`;
        # the anchor only gives the rows a micro-batch reads a place in its graph.
        self.grads = [torch.zeros_like(t) for t in self.outputs] if self.detach else []
        self.anchor = torch.zeros((), requires_grad=True)

    def _forward(self, prompt_ids: torch.Tensor, prompt_mask: torch.Tensor) -> list[torch.Tensor]:
        """The last-position logits ``[n, V]``, then the keys and the values ``[n, H, P, D]`` of every layer."""
        out = self.model(
            input_ids=prompt_ids,
            attention_mask=prompt_mask,
            position_ids=position_ids(prompt_mask),
            use_cache=True,
            logits_to_keep=1,
        )
        return [out.logits[:, -1], *(t for layer in out.cache.layers for t in (layer.keys, layer.values))]

    def _read(self, output: int, groups: torch.Tensor, cut: int = 0) -> torch.Tensor:
        """Rows ``groups`` of prompt output ``output`` (keys/values from column ``cut`` on); detached, their gradient is
        added into `grads` as the backward reaches them (`_CollectRows`)."""
        source = self.outputs[output]
        if self.detach:
            return _CollectRows.apply(self.anchor, source, groups, cut, self.grads[output])
        return _from_column(source, cut)[groups]

    def logits(self, model: Any, rows: torch.Tensor, completion_ids: torch.Tensor, completion_mask: torch.Tensor) -> torch.Tensor:
        groups = rows // self.group_size
        first = self._read(0, groups)[:, None]  # the prompt's last position predicts completion token 0
        if completion_ids.shape[1] <= 1:  # nothing after the first token (or no token at all)
            return first[:, : completion_ids.shape[1]]
        mask = self.prompt_mask[groups]
        cut = padding_columns(mask)
        kv = [self._read(i, groups, cut) for i in range(1, len(self.outputs))]
        pairs = list(zip(kv[::2], kv[1::2], strict=True))
        cache = DynamicCache(ddp_cache_data=pairs, config=model.config)  # the model's own layer types
        attention = torch.cat([mask[:, cut:], completion_mask[:, :-1]], dim=1)
        start = mask.long().sum(1)[:, None]
        positions = start + torch.arange(completion_ids.shape[1] - 1, device=start.device)
        rest = model(input_ids=completion_ids[:, :-1], attention_mask=attention, position_ids=positions, cache=cache, use_cache=True)
        return torch.cat([first, rest.logits], dim=1)

    def surrogate_batches(self, budget: int) -> list[torch.Tensor]:
        """Prompt indices for `surrogate`: length-sorted, at most ``budget`` padded tokens a piece, at least one piece."""
        lengths = self.prompt_mask.sum(1)
        return length_buckets(lengths, budget) or [torch.arange(len(lengths), device=lengths.device)]

    def surrogate(self, prompts: torch.Tensor) -> torch.Tensor:
        """A scalar whose gradient is the micro-batches' accumulated gradient at the outputs of ``prompts`` (indices into
        the ``B`` prompts); backward it once per piece of `surrogate_batches`.

        The prompt forward runs again here, with grad: its activations were not kept while the micro-batches ran, so
        the update's peak memory is that of its largest micro-batch or piece, at the cost of a second forward over the
        prompts. Padding columns that every prompt of the piece has are cut (their gradients are zero: masked out).
        """
        if not self.detach:
            raise RuntimeError("SharedPrompts.surrogate: the micro-batches read the prompt outputs themselves (detach=False)")
        mask = self.prompt_mask[prompts]
        cut = padding_columns(mask)
        outputs = self._forward(self.prompt_ids[prompts, cut:], mask[:, cut:])
        # the collected gradients for these prompts: the last-position logits [n, V], then keys/values [n, H, P - cut, D]
        grads = [_from_column(g, cut)[prompts] for g in self.grads]
        return sum(((out * grad).sum() for out, grad in zip(outputs, grads, strict=True)), outputs[0].new_zeros(()))


class _CollectRows(torch.autograd.Function):
    """Rows ``groups`` of a prompt output (keys/values from column ``cut`` on) whose backward adds their gradient into
    ``total`` (``index_add_`` over the rows read) and sends nothing further.

    A micro-batch's graph then ends here, holding neither the rows it read nor their gradient: a leaf would hold both
    until the graph is freed, and autograd's own indexing backward scatters each micro-batch's gradient into a zero
    tensor the size of every prompt's keys/values before adding it to the total.
    """

    @staticmethod
    def forward(ctx: Any, anchor: torch.Tensor, source: torch.Tensor, groups: torch.Tensor, cut: int, total: torch.Tensor) -> torch.Tensor:
        ctx.groups, ctx.cut, ctx.total = groups, cut, total
        return _from_column(source, cut)[groups]

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[None, ...]:
        _from_column(ctx.total, ctx.cut).index_add_(0, ctx.groups, grad)
        return None, None, None, None, None


def _from_column(output: torch.Tensor, cut: int) -> torch.Tensor:
    """A prompt output from prompt column ``cut`` on: keys/values ``[n, H, P, D]`` lose their first ``cut`` positions (a
    view), the last-position logits ``[n, V]`` stay whole."""
    return output if output.dim() < 4 else output[:, :, cut:]
