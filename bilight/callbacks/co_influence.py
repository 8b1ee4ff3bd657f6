"""`CoInfluence`: does learning from one probe prompt's successes help the others? (K+ - K-, dJ; docs/design.md, decision 1)

Why: BRIDGE's second factor of the RL gain (docs/design.md, section 1) is the co-influence K+ - K-, an
inner product of per-rollout gradients across prompts. This callback samples N rollouts for each of
M probe prompts, takes one gradient per rollout of its log-likelihood, projects it to d dims, and
hands the ``[M, N, d]`` tensor to `bilight.metrics.influence` (rows of the matrix: source prompt q,
columns: target q').

Choices (measured on this CPU with the 1.07M-parameter quickstart model):

* **Parameters**: the trainable ones, which are the LoRA adapters when LoRA is on, else all.
* **Objective**: the per-token mean log-likelihood of the completion (EOS included) at temperature 1,
  ``reduction: sum`` for the summed log-likelihood (the exact ``grad log pi(o|q)``).
* **Per-rollout gradients** (``per_sample``): ``auto`` (default) takes a prompt's N rollouts in one
  right-padded forward and one backward pass and builds each rollout's gradient from the layer inputs
  and output gradients (`bilight.metrics.per_sample`: Linear, Embedding and RMSNorm layers, which covers
  the built-in Llama and LoRA adapters), else falls back to ``loop``: a batch-1 backward pass per
  rollout on its own unpadded sequence. The two agree to float rounding (test); for 8 rollouts of 150
  tokens of the quickstart model the batched pass took about half the loop's time. ``torch.func``
  (``functional_call`` + ``vmap(grad)``) works on HF Llama only without an attention mask and was
  *slower* than the loop on CPU (0.59 s vs 0.44 s), so ``per_sample: vmap`` is an option for accelerators.
* **Projection**: seeded, chunked (`bilight.metrics.projection`), ``kind: sparse`` (CountSketch) by
  default: a dense Gaussian block costs O(d P) per call (about 4.5 s at P = 1.07M, d = 512) against
  O(P) for sparse (0.18 s). A prompt's N gradients are projected in one call, so the blocks are drawn
  once per prompt; the ``loop`` path with ``sparse`` projects each gradient as soon as it exists (memory:
  one gradient plus ``M N d`` floats).
* **Advantages**: GRPO's group-normalised ``(r - mean) / (std + 1e-4)`` from the binary verdicts.

Logs (raw inner products, and ``_cos`` after normalising each gradient to unit length):
``influence/co_influence``, ``influence/delta_j``, ``influence/k_plus``, ``influence/k_minus``,
the same with ``_cos``, ``influence/num_pairs`` (valid ordered pairs), ``influence/grad_norm``
(mean projected gradient norm), ``influence/mean_alpha``; figures ``influence/matrix`` and
``influence/matrix_cos`` (heatmaps of C(q, q'), TensorBoard and PNG under ``<run>/figures/``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

import lightning as L
import torch
from torch.func import functional_call, grad, vmap
from typing_extensions import override

from bilight.callbacks.probe import ProbeCallback, chunk_seed, rank_chunks, reduce_sum, sample_probe
from bilight.losses import token_logprobs
from bilight.metrics import CoInfluence as CoInfluenceResult
from bilight.metrics import InfluenceStats, Projector, co_influence, influence_stats
from bilight.metrics.per_sample import per_sample_gradients, per_sample_supported
from bilight.metrics.plots import co_influence_figure
from bilight.metrics.projection import ProjectionKind
from bilight.modules.common import LMModule
from bilight.types import Rollouts


@dataclass(frozen=True)
class InfluenceResult:
    """One measurement, gathered over ranks: the raw and cosine co-influence and the per-prompt alpha.

    Attributes:
        raw: co-influence of the projected gradients. cosine: the same on unit-length gradients.
        alpha: ``[M]`` rollout accuracy of each probe prompt. step: global step of the measurement.
    """

    raw: CoInfluenceResult
    cosine: CoInfluenceResult
    alpha: torch.Tensor
    step: int


def rollout_sequences(probe: Rollouts, prompt: int, num_samples: int) -> Iterator[tuple[torch.Tensor, int]]:
    """``(ids [P_q + T_o], P_q)`` for each rollout of prompt ``prompt`` of a chunk: prompt and completion, unpadded."""
    prompt_ids = probe.prompt_ids[prompt][probe.prompt_mask[prompt].bool()]
    for o in range(prompt * num_samples, (prompt + 1) * num_samples):
        completion = probe.completion_ids[o][probe.completion_mask[o].bool()]
        yield torch.cat([prompt_ids, completion]), prompt_ids.numel()


def sequence_objective(logits: torch.Tensor, ids: torch.Tensor, prompt_len: int, reduction: str) -> torch.Tensor:
    """Log-likelihood of ``ids[prompt_len:]`` given the rest, from ``[L, V]`` logits of ``ids [L]``: mean over tokens or sum."""
    lp = token_logprobs(logits[prompt_len - 1 : -1], ids[prompt_len:])
    return lp.mean() if reduction == "mean" else lp.sum()


def padded_rollouts(
    sequences: list[tuple[torch.Tensor, int]], pad: int, reduction: str, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded ``ids [N, L]`` and the weight ``[N, L - 1]`` of each predicted token: ``1 / completion length`` (``mean``)
    or 1 (``sum``) on the completion, 0 on the prompt and the padding (causal, so padding never reaches a sequence)."""
    length = max(ids.numel() for ids, _ in sequences)
    ids = torch.full((len(sequences), length), pad, dtype=torch.long, device=device)
    weights = torch.zeros(len(sequences), length - 1, device=device)
    for row, (seq, prompt_len) in enumerate(sequences):
        ids[row, : seq.numel()] = seq
        count = seq.numel() - prompt_len
        weights[row, prompt_len - 1 : seq.numel() - 1] = 1.0 / count if reduction == "mean" else 1.0
    return ids, weights


class CoInfluence(ProbeCallback):
    """Co-influence K+ - K- and the dJ estimate over all ordered pairs of probe prompts.

    Args:
        num_prompts: probe prompts M (the first ones of the ``probe`` split); 32 here, as each costs N backward passes.
        dim: projected gradient dimension d (memory ``M N d`` floats).
        kind: projection kind (``sparse``, ``gaussian``, ``rademacher``), see the module docstring.
        reduction: ``mean`` (per-token mean log-likelihood) or ``sum``.
        per_sample: ``auto`` (``batched`` where `bilight.metrics.per_sample` covers every trainable layer, else ``loop``),
            ``batched`` (one forward/backward per prompt), ``loop`` (batch-1 backward per rollout) or ``vmap`` (``torch.func``).
        **kwargs: the other probe arguments of `ProbeCallback` (``num_samples``, ``every_n_steps``, ``seed``, ...).
    """

    def __init__(
        self,
        num_prompts: int = 32,
        dim: int = 512,
        kind: ProjectionKind = "sparse",
        reduction: Literal["mean", "sum"] = "mean",
        per_sample: Literal["auto", "batched", "loop", "vmap"] = "auto",
        **kwargs: Any,
    ) -> None:
        super().__init__(num_prompts=num_prompts, **kwargs)
        if reduction not in ("mean", "sum") or per_sample not in ("auto", "batched", "loop", "vmap"):
            raise ValueError(
                f"CoInfluence: reduction must be mean|sum and per_sample auto|batched|loop|vmap, got {reduction!r}, {per_sample!r}"
            )
        self.dim, self.kind, self.reduction, self.per_sample = dim, kind, reduction, per_sample
        self.result: InfluenceResult | None = None

    @override
    def measure(self, trainer: L.Trainer, module: LMModule) -> dict[str, float]:
        m, n = self.probe_size(module), self.num_samples
        names, params = zip(*[(k, p) for k, p in module.model.named_parameters() if p.requires_grad], strict=True)
        projector = Projector.for_parameters(params, self.dim, seed=self.seed, kind=self.kind)
        # Per-prompt statistics (raw, cosine), correctness and gradient norms in one table: one all-reduce.
        stats = torch.zeros(2, 3, m, self.dim, dtype=torch.float64)
        small = torch.zeros(m, n + 1, dtype=torch.float64)  # [correct x N | mean gradient norm]
        for chunk, rows in rank_chunks(m, self.chunk_size, trainer.global_rank, trainer.world_size):
            probe = sample_probe(module, rows, self.sampling(module), seed=chunk_seed(self.seed, chunk))
            correct = probe.grouped(probe.correct).cpu().to(torch.float64)
            grads = torch.stack(
                [self._prompt_gradients(module, dict(zip(names, params, strict=True)), projector, probe, b) for b in range(len(rows))]
            )
            for i, normalize in enumerate((False, True)):
                part = influence_stats(grads, correct, normalize=normalize)
                stats[i, :, rows.start : rows.stop] = torch.stack([part.g_plus, part.g_minus, part.g_adv])
            small[rows.start : rows.stop, :n] = correct
            small[rows.start : rows.stop, n] = grads.to(torch.float64).norm(dim=-1).mean(1)
        stats, small = reduce_sum(trainer, stats), reduce_sum(trainer, small)
        alpha = small[:, :n].mean(1)
        raw, cos = (co_influence(InfluenceStats(g_plus=s[0], g_minus=s[1], g_adv=s[2], alpha=alpha)) for s in stats)
        self.result = InfluenceResult(raw=raw, cosine=cos, alpha=alpha, step=trainer.global_step)
        metrics = {f"influence/{k}": v for k, v in {**raw.scalars(), **cos.scalars("_cos")}.items()}
        metrics.update({"influence/num_pairs": float(raw.num_pairs), "influence/grad_norm": float(small[:, n].mean())})
        metrics["influence/mean_alpha"] = float(alpha.mean())
        if trainer.is_global_zero:
            step = f"step {trainer.global_step}"
            self.save_figure(trainer, co_influence_figure(raw.matrix, f"Co-influence C(q, q') ({step})"), "influence/matrix")
            self.save_figure(trainer, co_influence_figure(cos.matrix, f"Co-influence, cosine ({step})"), "influence/matrix_cos")
        return metrics

    def _prompt_gradients(
        self, module: LMModule, params: dict[str, torch.Tensor], projector: Projector, probe: Rollouts, prompt: int
    ) -> torch.Tensor:
        """``[N, d]`` float32 projected gradients of the rollouts of one prompt of a chunk."""
        sequences = list(rollout_sequences(probe, prompt, self.num_samples))
        tensors = list(params.values())
        if self.per_sample == "vmap":
            return projector.project_chunks(self._vmap_gradients(module, params, sequences), batch_dims=1)
        if self.per_sample == "batched" or (self.per_sample == "auto" and per_sample_supported(module.model, tensors)):
            ids, weights = padded_rollouts(sequences, module.tokenizer.pad_token_id or 0, self.reduction, module.device)
            return projector.project_chunks(per_sample_gradients(module.model, tensors, ids, weights), batch_dims=1)
        projected: list[torch.Tensor] = []
        held: list[tuple[torch.Tensor, ...]] = []
        for ids, prompt_len in sequences:
            with torch.enable_grad():
                logits = module.model(input_ids=ids[None]).logits[0]
                objective = sequence_objective(logits, ids, prompt_len, self.reduction)
                grads = torch.autograd.grad(objective, tensors, allow_unused=True)
            grads = tuple(torch.zeros_like(p) if g is None else g for p, g in zip(tensors, grads, strict=True))
            if self.kind == "sparse":  # O(P) per vector: project now, hold one gradient at a time
                projected.append(projector.project_chunks(grads))
            else:
                held.append(grads)
        if held:  # dense kinds: one call per prompt amortises drawing the projection blocks
            return projector.project_chunks([torch.stack(g) for g in zip(*held, strict=True)], batch_dims=1)
        return torch.stack(projected)

    def _vmap_gradients(
        self, module: LMModule, params: dict[str, torch.Tensor], sequences: list[tuple[torch.Tensor, int]]
    ) -> list[torch.Tensor]:
        """Per-rollout gradients with ``torch.func``: right-padded sequences without an attention mask (causal, so pads after a
        sequence never reach it), each rollout's completion tokens selected by a weight mask."""
        ids, weights = padded_rollouts(sequences, module.tokenizer.pad_token_id or 0, self.reduction, module.device)
        detached = {k: p.detach() for k, p in params.items()}

        def objective(p: dict[str, torch.Tensor], row_ids: torch.Tensor, row_weights: torch.Tensor) -> torch.Tensor:
            logits = functional_call(module.model, p, (row_ids[None],)).logits[0, :-1]
            lp = torch.log_softmax(logits.float(), dim=-1).gather(-1, row_ids[1:, None]).squeeze(-1)
            return (lp * row_weights).sum()

        with torch.enable_grad():
            grads = vmap(grad(objective), in_dims=(None, 0, 0))(detached, ids, weights)
        return [grads[k] for k in params]
