"""The GRPO math as pure tensor functions: token log-probs, masked reductions, group advantages,
the clipped policy loss in TRL's four normalisations, KL estimators and entropy.

Why pure functions: every formula here can be checked on a 4x3 tensor with numbers worked out by
hand (verl's ``core_algos`` habit), and the Lightning module only wires them together. The
definitions follow TRL's ``GRPOTrainer`` (``_compute_loss`` and the advantage block of
``_generate_and_score_completions``) so that a TRL config means the same thing here:

* advantages: reward minus the group mean, divided by the group std (``scale_rewards="group"``),
  the batch std (``"batch"``) or nothing (``"none"``); stds are unbiased (Bessel), ``eps`` = 1e-4;
* per-token loss ``-min(r * A, clip(r, 1 - epsilon, 1 + epsilon_high) * A)`` with
  ``r = exp(logprobs - old_logprobs)``, plus ``beta * KL`` per token when ``beta > 0``;
* reductions: ``grpo`` = mean over tokens of each sequence, then over sequences; ``bnpo`` = sum
  over the micro-batch's tokens / their number; ``dr_grpo`` = sum / (rows * max_completion_length);
  ``dapo`` = sum / (tokens in the *global* batch / world size).

Gradient accumulation, all in `micro_batch_weight` (the factor on each micro-batch's loss):
``grpo`` and ``dr_grpo`` are means over rows, so a micro-batch weighs by its share of the step's
rows (exact for uneven splits); ``bnpo`` is a mean of micro-batch means (TRL divides by
``gradient_accumulation_steps``); ``dapo`` is already normalised by the token count of the whole
optimizer step, so it is not weighted again: pass ``num_items_in_batch`` (tokens summed over all
micro-batches and ranks) and ``world_size`` (DDP averages gradients over ranks, hence the
``/ world_size`` in the normaliser, as in TRL).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F

LossType = Literal["grpo", "bnpo", "dr_grpo", "dapo"]
ScaleRewards = Literal["group", "batch", "none"]
KLEstimator = Literal["k1", "k3"]

LOSS_TYPES: tuple[LossType, ...] = ("grpo", "bnpo", "dr_grpo", "dapo")


# Elements of ``[rows, T, V]`` logits processed at once by `token_logprobs` and `entropy_from_logits`:
# whole batches of a small-vocabulary model in one kernel, a bounded temporary for a large vocabulary.
CHUNK_ELEMENTS = 1 << 24


def token_logprobs(logits: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """Log-probability of ``ids`` under ``logits``: ``log_softmax(logits).gather(ids)`` without the full softmax.

    Args:
        logits: ``[..., T, V]`` logits *already aligned* with ``ids``: position ``t`` predicts ``ids[..., t]``
            (for a causal LM that is ``model(...).logits[:, :-1]`` against ``input_ids[:, 1:]``).
            Divide by the sampling temperature first if the log-probs must match sampling.
        ids: ``[..., T]`` token ids.

    Returns:
        ``[..., T]`` log-probs, differentiable with respect to ``logits``. Rows are processed in chunks of
        about `CHUNK_ELEMENTS` logits, so the temporary is bounded whatever the vocabulary.
    """
    flat_logits = logits.reshape(-1, logits.shape[-2], logits.shape[-1])
    flat_ids = ids.reshape(-1, ids.shape[-1])
    rows = max(1, CHUNK_ELEMENTS // max(1, logits.shape[-2] * logits.shape[-1]))
    parts = []
    for lg, i in zip(flat_logits.split(rows), flat_ids.split(rows), strict=True):
        if lg.dtype in (torch.float32, torch.float64):
            parts.append(lg.gather(-1, i.unsqueeze(-1)).squeeze(-1) - torch.logsumexp(lg, dim=-1))
        else:  # logsumexp in half precision is inaccurate: log_softmax in float32 instead
            parts.append(F.log_softmax(lg.float(), dim=-1).gather(-1, i.unsqueeze(-1)).squeeze(-1))
    return torch.cat(parts).reshape(ids.shape)


def masked_sum(x: torch.Tensor, mask: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    """Sum of ``x`` where ``mask`` is 1 (over ``dim``, or everything)."""
    masked = x * mask
    return masked.sum() if dim is None else masked.sum(dim)


def masked_mean(x: torch.Tensor, mask: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    """Mean of ``x`` where ``mask`` is 1; an all-zero mask gives 0, not NaN (the count is clamped to 1)."""
    count = mask.sum() if dim is None else mask.sum(dim)
    return masked_sum(x, mask, dim) / count.clamp(min=1.0)


def group_advantages(rewards: torch.Tensor, scale_rewards: ScaleRewards = "group", eps: float = 1e-4) -> torch.Tensor:
    """GRPO advantages: each reward minus its group's mean, optionally divided by a std (TRL semantics).

    Args:
        rewards: ``[B, G]``, one row per prompt, one column per generation.
        scale_rewards: ``"group"`` divides by each group's std, ``"batch"`` by the std of all ``B*G``
            rewards (still centred per group), ``"none"`` does not divide (Dr. GRPO).
        eps: added to the std before dividing, so zero-spread groups get advantage 0.

    Returns:
        ``[B, G]`` advantages; ``.reshape(-1)`` gives the ``[B*G]`` order of ``Rollouts`` rows.
        Stds are unbiased (Bessel); a single generation (or a single reward for ``"batch"``) has std 0.
    """
    if rewards.dim() != 2:
        raise ValueError(f"group_advantages: rewards must be [B, G], got shape {tuple(rewards.shape)}")
    centred = rewards - rewards.mean(dim=1, keepdim=True)
    if scale_rewards == "none":
        return centred
    if scale_rewards == "group":
        std = rewards.std(dim=1, keepdim=True) if rewards.shape[1] > 1 else torch.zeros_like(rewards[:, :1])
    elif scale_rewards == "batch":
        std = rewards.std() if rewards.numel() > 1 else torch.zeros((), dtype=rewards.dtype, device=rewards.device)
    else:
        raise ValueError(f"scale_rewards: expected 'group', 'batch' or 'none', got {scale_rewards!r}")
    return centred / (std + eps)


def kl_k1(logprobs: torch.Tensor, ref_logprobs: torch.Tensor) -> torch.Tensor:
    """Per-token k1 estimator of KL(pi || ref): ``logprobs - ref_logprobs`` (unbiased, can be negative)."""
    return logprobs - ref_logprobs


def kl_k3(logprobs: torch.Tensor, ref_logprobs: torch.Tensor) -> torch.Tensor:
    """Per-token k3 estimator of KL(pi || ref): ``exp(ref - lp) - (ref - lp) - 1`` (unbiased, always >= 0; TRL's)."""
    delta = ref_logprobs - logprobs
    return torch.exp(delta) - delta - 1


def entropy_from_logits(logits: torch.Tensor, chunk_size: int | None = None) -> torch.Tensor:
    """Shannon entropy (nats) over the last axis, ``[..., V] -> [...]``, computed ``chunk_size`` rows at a time.

    ``chunk_size`` None takes as many rows as fit in `CHUNK_ELEMENTS` logits.
    """
    flat = logits.reshape(-1, logits.shape[-1])
    chunk_size = chunk_size or max(1, CHUNK_ELEMENTS // max(1, logits.shape[-1]))
    parts = []
    for chunk in flat.split(chunk_size, dim=0):
        logp = F.log_softmax(chunk.float(), dim=-1)
        parts.append(-(logp.exp() * logp).sum(-1))
    return torch.cat(parts).reshape(logits.shape[:-1])


@dataclass(frozen=True)
class PolicyLossOutput:
    """What `policy_loss` returns.

    Attributes:
        loss: scalar to call ``backward`` on (already divided for gradient accumulation, see module doc).
        policy_loss: the same loss before the accumulation division, detached, for logging.
        kl: masked mean per-token KL (detached), or None when ``beta == 0``.
        clip_low: share of tokens with ``ratio < 1 - epsilon`` and negative advantage (clipped from below).
        clip_high: share of tokens with ``ratio > 1 + epsilon_high`` and positive advantage.
        clip_region: share of tokens in either case (the tokens whose gradient the clip removes).
    """

    loss: torch.Tensor
    policy_loss: torch.Tensor
    kl: torch.Tensor | None
    clip_low: torch.Tensor
    clip_high: torch.Tensor
    clip_region: torch.Tensor


def policy_loss(
    logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    *,
    loss_type: LossType = "dapo",
    epsilon: float = 0.2,
    epsilon_high: float | None = None,
    beta: float = 0.0,
    ref_logprobs: torch.Tensor | None = None,
    kl_estimator: KLEstimator = "k3",
    max_completion_length: int | None = None,
    num_items_in_batch: float | torch.Tensor | None = None,
    world_size: int = 1,
) -> PolicyLossOutput:
    """The clipped GRPO surrogate of one micro-batch, reduced as ``loss_type`` says (TRL's definitions).

    Args:
        logprobs: ``[N, T]`` token log-probs under the current policy (with grad), temperature-scaled
            like the sampler's.
        old_logprobs: ``[N, T]`` log-probs under the policy that sampled (no grad). Pass
            ``logprobs.detach()`` when there is a single update per rollout batch: the ratio is then 1.
        advantages: ``[N]`` one advantage per completion (or ``[N, T]`` per token).
        mask: ``[N, T]`` 1 on completion tokens that count (EOS included; 0 on padding and on
            truncated completions when those are masked out).
        loss_type: ``grpo`` | ``bnpo`` | ``dr_grpo`` | ``dapo``, see the module docstring.
        epsilon: lower clip range, ratio >= 1 - epsilon.
        epsilon_high: upper clip range, ratio <= 1 + epsilon_high (clip-higher); defaults to ``epsilon``.
        beta: weight of the per-token KL penalty added to the per-token loss; 0 disables it.
        ref_logprobs: ``[N, T]`` reference-model log-probs, required when ``beta > 0``.
        kl_estimator: ``k3`` (default, TRL's) or ``k1``.
        max_completion_length: the generation budget; required by ``dr_grpo``.
        num_items_in_batch: ``dapo`` only: unmasked tokens of the whole optimizer step, summed over all
            micro-batches and ranks. Defaults to this micro-batch's ``mask.sum()`` (then dapo == bnpo).
        world_size: ``dapo`` only: number of data-parallel ranks whose gradients DDP averages.

    The loss is one micro-batch's; multiply it by `micro_batch_weight` when accumulating several.
    """
    mask = mask.to(logprobs.dtype)
    eps_high = epsilon if epsilon_high is None else epsilon_high
    adv = advantages.unsqueeze(1) if advantages.dim() == 1 else advantages
    ratio = torch.exp(logprobs - old_logprobs)
    clipped = torch.clamp(ratio, 1 - epsilon, 1 + eps_high)
    per_token = -torch.min(ratio * adv, clipped * adv)
    kl = None
    if beta != 0.0:
        if ref_logprobs is None:
            raise ValueError("policy_loss: beta > 0 needs ref_logprobs (the reference model's token log-probs)")
        per_token_kl = kl_k3(logprobs, ref_logprobs) if kl_estimator == "k3" else kl_k1(logprobs, ref_logprobs)
        per_token = per_token + beta * per_token_kl
        kl = masked_mean(per_token_kl.detach(), mask)
    loss = _reduce(per_token, mask, loss_type, max_completion_length, num_items_in_batch, world_size)
    policy = loss.detach()
    with torch.no_grad():
        low = (ratio < 1 - epsilon) & (adv < 0)
        high = (ratio > 1 + eps_high) & (adv > 0)
        stats = [masked_mean(x.to(mask.dtype), mask) for x in (low, high, low | high)]
    return PolicyLossOutput(loss, policy, kl, *stats)


def _reduce(
    per_token: torch.Tensor,
    mask: torch.Tensor,
    loss_type: LossType,
    max_completion_length: int | None,
    num_items_in_batch: float | torch.Tensor | None,
    world_size: int,
) -> torch.Tensor:
    """Reduce ``[N, T]`` per-token losses to a scalar the way ``loss_type`` defines."""
    if loss_type == "grpo":
        return masked_mean(per_token, mask, dim=1).mean()
    if loss_type == "bnpo":
        return masked_mean(per_token, mask)
    if loss_type == "dr_grpo":
        if max_completion_length is None:
            raise ValueError("policy_loss: loss_type='dr_grpo' needs max_completion_length (the max_new_tokens budget)")
        return masked_sum(per_token, mask) / (per_token.shape[0] * max_completion_length)
    if loss_type == "dapo":
        total = (
            mask.sum()
            if num_items_in_batch is None
            else torch.as_tensor(num_items_in_batch, dtype=per_token.dtype, device=per_token.device)
        )
        return masked_sum(per_token, mask) / (total.clamp(min=1.0) / world_size)
    raise ValueError(f"policy_loss: loss_type must be one of {LOSS_TYPES}, got {loss_type!r}")


def micro_batch_weight(loss_type: LossType, rows: int, total_rows: int, num_micro_batches: int) -> float:
    """The factor on one micro-batch's `policy_loss` so that accumulated gradients equal the whole step's.

    Args:
        loss_type: the reduction (see the module docstring).
        rows: completions in this micro-batch.
        total_rows: completions in the optimizer step (on this rank).
        num_micro_batches: micro-batches in the optimizer step (on this rank).
    """
    if loss_type in ("grpo", "dr_grpo"):
        return rows / total_rows
    if loss_type == "bnpo":
        return 1.0 / num_micro_batches
    return 1.0
