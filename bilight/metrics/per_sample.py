"""Per-sample gradients of a batch from one forward and one backward pass (no per-sample loop, no ``vmap``).

Why: `bilight.callbacks.CoInfluence` needs one gradient per rollout. A loop of batch-1 backward passes
pays the whole per-call overhead of a forward and a backward for every rollout, and ``torch.func``'s
``vmap(grad)`` was slower still on CPU. For the layers a transformer is made of, the per-sample
gradient is a cheap function of what one batched pass already computes: the layer's input ``x`` and
the gradient of the loss with respect to its output ``dy`` (the trick of Goodfellow 2015 and Opacus):

* ``nn.Linear``: ``dW_b = sum_t dy[b, t]^T x[b, t]`` (one ``bmm`` per layer), ``db_b = sum_t dy[b, t]``;
* ``nn.Embedding``: ``dE_b`` = the rows of ``dy[b]`` added at the ids of sample ``b`` (the padding row stays 0);
* RMSNorm (``weight * normalised(x)``, as `LlamaRMSNorm`): ``dw_b = sum_t dy[b, t] * normalised(x[b, t])``.

A sample's loss only depends on its own row (no layer mixes rows), so ``dy`` of the summed loss is each
sample's own ``dy``, and the backward pass needs no parameter gradients at all (``autograd.grad`` with
respect to the layer outputs). Rows are right-padded and run without an attention mask: the model is
causal, so padding after a sequence never reaches it, and positions are those of the unpadded row.
Tied weights (an LM head sharing the embedding matrix) get the sum of both uses.

`per_sample_supported` says whether every trainable parameter sits in one of these layers (the
built-in Llama and LoRA adapters do); callers fall back to a loop otherwise.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch import nn

from bilight.losses import token_logprobs

__all__ = ["per_sample_gradients", "per_sample_supported"]

# Norm layers computing `weight * (x * rsqrt(mean(x^2) + eps)).to(x.dtype)` with the statistics in float32.
RMS_NORMS = ("LlamaRMSNorm", "Qwen2RMSNorm", "MistralRMSNorm")


def _kind(module: nn.Module) -> str | None:
    if isinstance(module, nn.Linear):
        return "linear"
    if isinstance(module, nn.Embedding) and module.max_norm is None and not module.scale_grad_by_freq and not module.sparse:
        return "embedding"
    if type(module).__name__ in RMS_NORMS and hasattr(module, "variance_epsilon"):
        return "rms_norm"
    return None


def _owners(model: nn.Module, params: Sequence[torch.Tensor]) -> dict[int, list[tuple[nn.Module, str, str]]] | None:
    """``id(param) -> [(module, kind, attribute)]`` for every use of each parameter; None if one is in an unsupported layer."""
    wanted = {id(p) for p in params}
    owners: dict[int, list[tuple[nn.Module, str, str]]] = {}
    for module in model.modules():
        for attr, p in module.named_parameters(recurse=False):
            if id(p) not in wanted:
                continue
            kind = _kind(module)
            if kind is None or (kind != "linear" and attr != "weight"):
                return None
            owners.setdefault(id(p), []).append((module, kind, attr))
    return owners if len(owners) == len(wanted) else None


def per_sample_supported(model: nn.Module, params: Sequence[torch.Tensor]) -> bool:
    """True if every parameter of ``params`` belongs to a layer whose per-sample gradient this module computes."""
    return _owners(model, params) is not None


def per_sample_gradients(
    model: nn.Module, params: Sequence[torch.Tensor], ids: torch.Tensor, weights: torch.Tensor
) -> Iterator[torch.Tensor]:
    """Per-sample gradients of ``sum_t weights[b, t] * log p(ids[b, t + 1] | ids[b, :t + 1])``, one parameter at a time.

    Args:
        model: a causal LM whose forward takes ``input_ids`` and returns ``.logits`` ``[B, L, V]``.
        params: the parameters to differentiate (all must pass `per_sample_supported`), in the order to yield them.
        ids: ``[B, L]`` right-padded token ids (no attention mask is used).
        weights: ``[B, L - 1]`` weight of each predicted token (0 on the prompt and on padding).

    Yields:
        ``[B, *p.shape]`` gradient of each sample's objective with respect to each ``p`` of ``params``, in order
        (lazily: one parameter's per-sample gradient is built at a time).
    """
    owners = _owners(model, params)
    if owners is None:
        raise ValueError("per_sample_gradients: a parameter belongs to a layer other than Linear, Embedding or RMSNorm")
    modules = {id(m): m for uses in owners.values() for m, _, _ in uses}
    calls: dict[int, list[tuple[torch.Tensor, torch.Tensor]]] = {key: [] for key in modules}

    def capture(module: nn.Module, inputs: tuple[Any, ...], output: torch.Tensor) -> None:
        calls[id(module)].append((inputs[0].detach(), output))

    handles = [m.register_forward_hook(capture) for m in modules.values()]
    try:
        with torch.enable_grad():
            # The layer outputs need a graph even though no parameter gradient is taken.
            logits = model(input_ids=ids).logits[:, :-1]
            objective = (token_logprobs(logits, ids[:, 1:]) * weights).sum()
            outputs = [y for key in calls for _, y in calls[key]]
            grads = torch.autograd.grad(objective, outputs, allow_unused=True)
    finally:
        for handle in handles:
            handle.remove()
    dys = iter(grads)
    pairs = {key: [(x, torch.zeros_like(y) if (g := next(dys)) is None else g) for x, y in calls[key]] for key in calls}
    del outputs, logits, objective
    for p in params:
        total = None
        for module, kind, attr in owners[id(p)]:
            for x, dy in pairs[id(module)]:
                part = _gradient(module, kind, attr, x, dy)
                total = part if total is None else total + part
        if total is None:  # a parameter of a layer the forward never called
            total = p.new_zeros(ids.shape[0], *p.shape)
        yield total


def _gradient(module: nn.Module, kind: str, attr: str, x: torch.Tensor, dy: torch.Tensor) -> torch.Tensor:
    """``[B, *param.shape]`` per-sample gradient of ``module.<attr>`` from its input ``x`` and output gradient ``dy``."""
    b = dy.shape[0]
    if kind == "linear":
        dy3 = dy.reshape(b, -1, dy.shape[-1])
        if attr == "bias":
            return dy3.sum(1)
        return torch.bmm(dy3.transpose(1, 2), x.reshape(b, -1, x.shape[-1]).to(dy.dtype))
    if kind == "embedding":
        assert isinstance(module, nn.Embedding)
        rows, width = module.num_embeddings, dy.shape[-1]
        flat_ids = (x.reshape(b, -1) + torch.arange(b, device=x.device)[:, None] * rows).flatten()
        out = dy.new_zeros(b * rows, width).index_add_(0, flat_ids, dy.reshape(-1, width)).view(b, rows, width)
        if module.padding_idx is not None:
            out[:, module.padding_idx] = 0
        return out
    eps = float(getattr(module, "variance_epsilon"))  # noqa: B009 (an attribute of the HF norm classes only)
    h = x.to(torch.float32)
    h = (h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + eps)).to(x.dtype)
    return (dy * h).reshape(b, -1, dy.shape[-1]).sum(1)
