"""`GRPOModule`: group-relative policy optimisation with verifiable rewards, from an SFT checkpoint.

One training step is one GRPO batch: sample ``num_generations`` completions for each prompt of the
batch (``bilight.rollout``: prompt prefilled once per group, seeded generator), score them with
the task verifier plus optional shaped terms (``bilight.rewards``), optionally drop the groups
whose rewards are all equal and refill from the prompt stream (dynamic sampling), compute
group-relative advantages, then run ``num_iterations`` optimizer steps over micro-batches with the
clipped surrogate of ``bilight.losses``. Option names and meanings follow TRL's ``GRPOConfig``.

Choices:

* Manual optimization: the update is not one loss per batch. Gradient clipping is ``max_grad_norm``
  here (Lightning's ``gradient_clip_val`` does not apply to manual optimization); the LR schedule
  steps once per optimizer step, so ``trainer.max_steps`` counts optimizer steps.
* The generation budget is the base ``max_new_tokens`` (TRL's ``max_completion_length``); it is
  also the budget of validation decoding and the ``dr_grpo`` normaliser.
* Training log-probs are ``log_softmax(logits / temperature)``, as the sampler reports them. With
  ``num_iterations == 1`` the old log-probs are the fresh ones detached (ratio exactly 1);
  otherwise a no-grad forward at the start of the step computes them once.
* The update forwards each prompt once per step (``prompt_once``, `bilight.modules.prompts`): completion
  rows attend to the keys/values of their prompt's forward, through which the gradient flows back, so a
  prompt of 96 tokens with completions of 30 (the quickstart's rl split) costs 96 + 8 x 30 tokens of
  forward/backward instead of 8 x 126; micro-batches hold rows of similar length from any group.
* Reference model only when ``beta > 0``: with LoRA the adapter-disabled model (the adapter starts
  at zero), otherwise a frozen copy held outside the module's parameters and checkpoint.
* Dynamic sampling keeps at most ``batch_size`` informative groups and discards the surplus, so
  every update is on-policy; refills come from `PromptStream`, whose position is checkpointed
  together with the rollout generator's state.
* Validation: greedy accuracy per split (as `SFTModule`) plus the mean accuracy of
  ``val_num_samples`` samples at the training temperature (avg@k) and unbiased pass@k.

Logs every step: ``train/loss``, ``train/clip_low``, ``train/clip_high``, ``train/clip_region``,
``train/kl`` (beta > 0), ``train/entropy``, ``train/grad_norm``, ``train/lr``,
``train/tokens_per_sec`` (as in SFT: trained tokens per second), ``rollout/tokens_per_sec`` (generated
tokens per second of the step), ``rollout/reward_mean``, ``rollout/reward_std``, ``rollout/acc``,
``rollout/frac_zero_std``, ``rollout/frac_all_correct``, ``rollout/frac_all_wrong``,
``rollout/completion_len_min``, ``rollout/completion_len_mean``, ``rollout/completion_len_max``,
``rollout/clipped_frac``, ``rollout/refills``, ``rollout/kept_groups``, ``rollout/reward_<term>``,
``rollout/greedy_acc`` (with ``greedy_in_group``: accuracy of greedy decoding on the step's prompts),
``time/generation``, ``time/scoring``, ``time/update``. Validation: ``val/acc_id``,
``val/acc_ood``, ``val/avg@k_id``, ``val/pass@k_id`` (and ``_ood``).
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import math
import time
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from transformers import PreTrainedModel
from typing_extensions import override

from bilight.checkpoint import gather_from_ranks
from bilight.losses import (
    KLEstimator,
    LossType,
    ScaleRewards,
    entropy_from_logits,
    group_advantages,
    masked_mean,
    micro_batch_weight,
    policy_loss,
    token_logprobs,
)
from bilight.modules.common import LMModule
from bilight.modules.grpo_batch import PromptStream, cat_rollouts, length_buckets, select_groups, trim_completions
from bilight.modules.prompts import PromptSource, RowPrompts, SharedPrompts
from bilight.rewards import Reward, score
from bilight.rollout import Sampling, prompt_batch, sample_and_judge
from bilight.types import Rollouts

# Lightning warns that a manual-optimization checkpoint holds the weights after the step. That is the
# state resume needs: the step is counted in global_step, so the resumed run continues with the next one.
warnings.filterwarnings("ignore", message="Using ModelCheckpoint with manual optimization", category=UserWarning)

# Padded tokens per micro-batch of the update when ``micro_batch_size`` is None (see `GRPOModule.micro_batches`).
UPDATE_TOKENS = 2048


class GRPOModule(LMModule):
    """GRPO with TRL's option names; the base-model arguments (``init_from``, ``lora_r``, ...) are those of `LMModule`.

    Args:
        num_generations: completions per prompt (G, the group size); with ``greedy_in_group`` the greedy one plus G-1 samples.
        temperature: sampling temperature of rollouts (and of the training log-probs).
        top_p: nucleus sampling threshold of rollouts (1 disables it).
        top_k: top-k sampling of rollouts (0 disables it).
        stop_strings: a completion also ends at the token completing one of these.
        num_iterations: optimizer steps per rollout batch (TRL's mu); >1 makes the clip matter.
        epsilon: lower clip range of the importance ratio.
        epsilon_high: upper clip range (clip-higher, DAPO uses 0.28); None = ``epsilon``.
        beta: weight of the KL penalty to the reference model; 0 holds no reference model.
        kl_estimator: ``k3`` (TRL's) or ``k1``.
        loss_type: ``dapo`` (token-level, default), ``grpo`` (sequence mean), ``bnpo``, ``dr_grpo``.
        scale_rewards: advantage scaling: ``group`` std, ``batch`` std or ``none`` (Dr. GRPO).
        mask_truncated_completions: exclude completions that hit the budget without EOS from the loss.
        dynamic_sampling: drop groups whose rewards have zero spread and refill from the prompt stream.
        max_refills: at most this many extra rollout rounds per step for dynamic sampling.
        micro_batch_size: completions per forward/backward (gradient accumulation); None = rows of
            similar length packed into micro-batches of about 2,048 tokens (bnpo: the whole batch).
            The gradient equals the one-batch gradient for dapo, grpo and dr_grpo; bnpo normalises
            by each micro-batch's own token count (TRL's definition), so it depends on the split.
        prompt_once: the update runs the step's prompts through the model once and each micro-batch's completions
            attend to their prompts' keys/values (gradients collected there and sent back through the prompt forward
            once, `bilight.modules.prompts`), instead of one forward over prompt + completion per row: the same
            log-probs, loss and gradient to float rounding (tests), with the prompt's work done once instead of G times.
            False (also used under gradient checkpointing, which turns the cache off, and fp16 loss scaling): one
            forward per row.
        max_grad_norm: clip the gradient's global norm to this; None does not clip.
        rewards: extra reward terms added to verifier correctness, e.g. ``bilight.rewards.FormatReward``.
        val_num_samples: samples per validation prompt for avg@k and pass@k (0 skips them).
        rollout_seed: seed of the rollout sampling generator (its state is checkpointed).
        greedy_in_group: member 0 of every group is the greedy completion, members 1..G-1 are samples.
            Its advantage is relative to the samples like any member's, so where greedy decoding is
            wrong and a sample is right the greedy path is pushed down at the tokens where it went
            astray, and where greedy is right it is pushed up against wrong samples: the update aims
            at what greedy decoding outputs (an off-policy member, as LUFFY's expert traces are).
        **kwargs: `LMModule` arguments.
    """

    def __init__(
        self,
        num_generations: int = 8,
        temperature: float = 1.0,
        top_p: float = 1.0,
        top_k: int = 0,
        stop_strings: Sequence[str] = (),
        num_iterations: int = 1,
        epsilon: float = 0.2,
        epsilon_high: float | None = None,
        beta: float = 0.0,
        kl_estimator: KLEstimator = "k3",
        loss_type: LossType = "dapo",
        scale_rewards: ScaleRewards = "group",
        mask_truncated_completions: bool = False,
        dynamic_sampling: bool = False,
        max_refills: int = 4,
        micro_batch_size: int | None = None,
        prompt_once: bool = True,
        max_grad_norm: float | None = 1.0,
        rewards: Sequence[Reward] = (),
        val_num_samples: int = 4,
        rollout_seed: int = 0,
        greedy_in_group: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if num_generations < 2:
            raise ValueError(f"model.num_generations must be >= 2 (advantages are relative to the group), got {num_generations}")
        self.automatic_optimization = False
        self.num_generations, self.temperature, self.top_p, self.top_k = num_generations, temperature, top_p, top_k
        self.stop_strings, self.num_iterations = tuple(stop_strings), num_iterations
        self.epsilon, self.epsilon_high, self.beta, self.kl_estimator = epsilon, epsilon_high, beta, kl_estimator
        self.loss_type, self.scale_rewards, self.mask_truncated_completions = loss_type, scale_rewards, mask_truncated_completions
        self.dynamic_sampling, self.max_refills, self.micro_batch_size = dynamic_sampling, max_refills, micro_batch_size
        self.max_grad_norm, self.extra_rewards, self.val_num_samples = max_grad_norm, list(rewards), val_num_samples
        self.rollout_seed, self.prompt_once = rollout_seed, prompt_once
        self.greedy_in_group = greedy_in_group
        self.generator = torch.Generator().manual_seed(rollout_seed)
        self._generator_state: torch.Tensor | None = None  # from a checkpoint, applied on first use
        self.stream: PromptStream | None = None
        self._stream_state: dict[str, int] | None = None
        # Plain attribute, not a submodule: no parameters in the optimizer, nothing in the checkpoint.
        self.ref_model: PreTrainedModel | None = None
        if beta > 0 and not self.uses_lora:
            object.__setattr__(self, "ref_model", copy.deepcopy(self.model).eval().requires_grad_(False))

    # ------------------------------------------------------------------ the algorithm
    @override
    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        start = time.perf_counter()
        rollout, stats = self.collect_rollouts(batch)
        advantages = group_advantages(rollout.grouped(rollout.rewards), self.scale_rewards).reshape(-1)
        update_start = time.perf_counter()
        stats |= self.update(rollout, advantages)
        stats["time/update"] = time.perf_counter() - update_start
        stats["rollout/tokens_per_sec"] = stats.pop("_generated_tokens") / (time.perf_counter() - start)
        trained = rollout.prompt_mask.sum() * rollout.group_size + rollout.completion_mask.sum()
        stats["train/tokens_per_sec"] = self.count_tokens(int(trained))
        shown = {"rollout/acc", "train/loss"}
        size = rollout.num_prompts
        self.log_dict({k: v for k, v in stats.items() if k not in shown}, on_step=True, on_epoch=False, batch_size=size)
        self.log_dict({k: stats[k] for k in shown}, on_step=True, on_epoch=False, prog_bar=True, batch_size=size)

    def collect_rollouts(self, batch: dict[str, torch.Tensor]) -> tuple[Rollouts, dict[str, float]]:
        """Sample and score groups for the batch's prompts; with dynamic sampling keep informative groups and refill."""
        size = batch["prompt_ids"].shape[0]
        timing: dict[str, float] = {"time/generation": 0.0, "time/scoring": 0.0}
        sampled = [self.rollout(batch, timing)]
        kept = [select_groups(sampled[0], self.informative(sampled[0]))] if self.dynamic_sampling else sampled
        refills = 0
        while self.dynamic_sampling and refills < self.max_refills and sum(b.num_prompts for b in kept) < size:
            missing = size - sum(b.num_prompts for b in kept)
            keep_rate = sum(b.num_prompts for b in kept) / sum(b.num_prompts for b in sampled)
            more = self.rollout(self.refill_prompts(min(4 * missing, math.ceil(missing / max(keep_rate, 0.25)))), timing)
            sampled.append(more)
            kept.append(select_groups(more, self.informative(more)))
            refills += 1
        pad = int(self.tokenizer.pad_token_id)
        everything = cat_rollouts(sampled, pad)
        train = cat_rollouts(kept, pad)
        if self.dynamic_sampling:
            train = trim_completions(select_groups(train, torch.arange(train.num_prompts) < size))
        stats = rollout_stats(everything) | {"rollout/refills": float(refills), "rollout/kept_groups": float(train.num_prompts)}
        if self.greedy_in_group:
            stats["rollout/greedy_acc"] = float(everything.grouped(everything.correct)[:, 0].float().mean())
        if train.num_prompts == 0:  # nothing informative even after refills: a zero-advantage step on the first batch
            train = sampled[0]
        # timing also holds the extra reward terms summed over rollout rounds: average them over the rounds
        stats |= {k: v / (len(sampled) if k.startswith("rollout/") else 1) for k, v in timing.items()}
        stats["_generated_tokens"] = float(everything.completion_mask.sum())
        return train, stats

    @property
    def sampling(self) -> Sampling:
        """The rollout sampling settings (G samples per prompt)."""
        settings = (self.num_generations, False, self.temperature, self.top_p, self.top_k, self.max_new_tokens, self.stop_strings)
        return Sampling(*settings)

    @property
    @override
    def test_sampling(self) -> Sampling:
        """Test samples are drawn with the rollout settings: avg@k at the training temperature."""
        return self.sampling

    def sample_groups(self, batch: dict[str, torch.Tensor]) -> Rollouts:
        """The judged rollout groups: G samples per prompt, or with ``greedy_in_group`` the greedy completion then G-1
        samples, decoded in the same loop (one prefill per prompt)."""
        sampling = self.sampling.with_(greedy_first=self.greedy_in_group)
        return sample_and_judge(self.model, self.tokenizer, batch, "rl", sampling, self.judge, self.rollout_generator())

    def rollout(self, batch: dict[str, torch.Tensor], timing: dict[str, float]) -> Rollouts:
        """Sample and judge G completions per prompt, then add the extra reward terms (adding to ``timing``)."""
        start = time.perf_counter()
        out = self.sample_groups(batch)
        timing["time/generation"] += time.perf_counter() - start
        start = time.perf_counter()
        problems = self.judge.problems("rl", batch["index"].repeat_interleave(self.num_generations).tolist())
        scores = score(out.texts, problems, out.verdicts, self.extra_rewards)
        timing["time/scoring"] += time.perf_counter() - start
        for name, values in scores.terms.items():
            timing[f"rollout/reward_{name}"] = timing.get(f"rollout/reward_{name}", 0.0) + float(values.mean())
        return dataclasses.replace(out, rewards=scores.rewards.to(self.device))

    @staticmethod
    def informative(batch: Rollouts) -> torch.Tensor:
        """``[B]`` True for groups whose rewards are not all equal (they carry a learning signal)."""
        rewards = batch.grouped(batch.rewards)
        return rewards.max(1).values > rewards.min(1).values

    def update(self, rollout: Rollouts, advantages: torch.Tensor) -> dict[str, float]:
        """``num_iterations`` optimizer steps on the rollout batch, each accumulating gradients over micro-batches."""
        optimizer, scheduler = self.optimizers(), self.lr_schedulers()
        assert not isinstance(optimizer, list), "GRPOModule expects a single optimizer"
        rows = rollout.completion_ids.shape[0]
        mask = rollout.completion_mask.float()
        if self.mask_truncated_completions:
            mask = mask * (~rollout.truncated).float()[:, None]
        chunks = self.micro_batches(rollout)
        lengths = rollout.completion_mask.sum(1)
        widths = [int(lengths[c].max()) if len(c) else 0 for c in chunks]  # completion columns that are not padding in every row
        completions = [(rollout.completion_ids[c, :w], rollout.completion_mask[c, :w]) for c, w in zip(chunks, widths, strict=True)]
        masks = [mask[c, :w] for c, w in zip(chunks, widths, strict=True)]
        ref = old = None
        if self.beta > 0:
            with torch.no_grad(), self.reference() as model:
                ref = self.chunk_logprobs(model, rollout, chunks, completions)
        if self.num_iterations > 1:  # the sampling policy's log-probs, before the first optimizer step
            with torch.no_grad():
                old = self.chunk_logprobs(self.model, rollout, chunks, completions)
        num_items = self.trainer.strategy.reduce(mask.sum(), reduce_op="sum")  # dapo: tokens of the step on all ranks
        sums: dict[str, float] = {}
        params = [p for p in self.parameters() if p.requires_grad]
        for iteration in range(self.num_iterations):
            prompts = self.prompt_source(self.model, rollout, detach=True)
            shared = isinstance(prompts, SharedPrompts)
            for i, (c, (ids, completion_mask), m) in enumerate(zip(chunks, completions, masks, strict=True)):
                logits = tempered(prompts.logits(self.model, c, ids, completion_mask), self.temperature)
                logprobs = token_logprobs(logits, ids)
                out = policy_loss(
                    logprobs,
                    old[i] if old is not None else logprobs.detach(),
                    advantages[c],
                    m,
                    loss_type=self.loss_type,
                    epsilon=self.epsilon,
                    epsilon_high=self.epsilon_high,
                    beta=self.beta,
                    ref_logprobs=ref[i] if ref is not None else None,
                    kl_estimator=self.kl_estimator,
                    max_completion_length=self.max_new_tokens,
                    num_items_in_batch=num_items,
                    world_size=self.trainer.world_size,
                )
                weight = micro_batch_weight(self.loss_type, len(c), rows, len(chunks))
                # DDP all-reduces on the step's last backward only (ranks may hold different numbers of micro-batches):
                # the last micro-batch's, or with shared prompts the last piece of the prompt forward below
                self.backward_part(out.loss * weight, sync=not shared and i == len(chunks) - 1)
                # token-level statistics: each micro-batch weighs by its share of the step's tokens
                share = float(m.sum()) / max(float(mask.sum()), 1.0)
                _add(sums, "train/loss", float(out.loss.detach()) * weight / self.num_iterations)
                for name in ("clip_low", "clip_high", "clip_region") + (("kl",) if out.kl is not None else ()):
                    _add(sums, f"train/{name}", float(getattr(out, name)) * share / self.num_iterations)
                if iteration == 0:
                    _add(sums, "train/entropy", float(masked_mean(entropy_from_logits(logits.detach()), m)) * share)
            if isinstance(prompts, SharedPrompts):  # the micro-batches' gradients through the prompt forward, in pieces
                # a micro-batch's budget counts the prompt tokens it reads, about half: forward half as many prompt tokens
                pieces = prompts.surrogate_batches(UPDATE_TOKENS // 2)
                for j, piece in enumerate(pieces):
                    self.backward_part(prompts.surrogate(piece), sync=j == len(pieces) - 1)
            norm = torch.nn.utils.clip_grad_norm_(params, self.max_grad_norm if self.max_grad_norm is not None else math.inf)
            _add(sums, "train/grad_norm", float(norm) / self.num_iterations)
            sums["train/lr"] = float(optimizer.param_groups[0]["lr"])
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            scheduler.step()  # type: ignore[union-attr]
        return sums

    def micro_batches(self, rollout: Rollouts) -> list[torch.Tensor]:
        """Row indices of each micro-batch of the update.

        ``micro_batch_size`` rows go in order; by default rows are sorted by their work (completion tokens plus the
        prompt tokens they attend to, whose keys/values a micro-batch holds per row) and packed into micro-batches of
        about `UPDATE_TOKENS`, so padding and peak activation memory shrink while the gradient stays the one-batch
        gradient (dapo, grpo, dr_grpo). bnpo normalises by each micro-batch's own tokens, so it keeps the whole batch
        together.
        """
        work = rollout.completion_mask.sum(1) + rollout.prompt_mask.sum(1).repeat_interleave(rollout.group_size)
        rows = torch.arange(work.shape[0], device=work.device)
        if self.micro_batch_size is not None:
            return list(rows.split(self.micro_batch_size))
        if self.loss_type == "bnpo":
            return [rows]
        return length_buckets(work, UPDATE_TOKENS)

    def shares_prompts(self) -> bool:
        """Whether the update runs each prompt once per step (``prompt_once``): not under gradient checkpointing, which
        turns the cache off, nor under fp16 loss scaling (`bilight.modules.prompts` says why)."""
        model = self.model
        checkpointing = getattr(model, "is_activation_checkpointing", None)  # transformers 5 (the older name warns)
        if checkpointing is None:
            checkpointing = getattr(model, "is_gradient_checkpointing", False)
        scaled = getattr(self.trainer.precision_plugin, "scaler", None) is not None
        return self.prompt_once and not checkpointing and not scaled

    def prompt_source(self, model: Any, rollout: Rollouts, detach: bool = False) -> PromptSource:
        """The rollout's prompts for the update's micro-batches: `SharedPrompts` (forwarded now) or `RowPrompts`."""
        if self.shares_prompts():
            return SharedPrompts(model, rollout.prompt_ids, rollout.prompt_mask, self.num_generations, detach=detach)
        return RowPrompts(rollout.prompt_ids, rollout.prompt_mask, self.num_generations)

    def chunk_logprobs(
        self, model: Any, rollout: Rollouts, chunks: list[torch.Tensor], completions: list[tuple[torch.Tensor, torch.Tensor]]
    ) -> list[torch.Tensor]:
        """Token log-probs ``[n, T]`` of each micro-batch's completions under ``model`` (call it without grad)."""
        prompts = self.prompt_source(model, rollout)
        return [
            token_logprobs(tempered(prompts.logits(model, c, ids, m), self.temperature), ids)
            for c, (ids, m) in zip(chunks, completions, strict=True)
        ]

    def no_grad_sync(self) -> contextlib.AbstractContextManager[Any]:
        """Backward passes that accumulate gradients locally (DDP's ``no_sync``); a no-op on one process."""
        block = getattr(self.trainer.strategy, "block_backward_sync", None)
        return block() if block is not None else contextlib.nullcontext()

    def backward_part(self, loss: torch.Tensor, sync: bool) -> None:
        """``manual_backward`` of one part of the step; under DDP the gradients are all-reduced only when ``sync`` (the
        step's last backward: ranks may run different numbers of parts)."""
        with contextlib.nullcontext() if sync else self.no_grad_sync():
            self.manual_backward(loss)

    # ------------------------------------------------------------------ log-probs
    def completion_logits(
        self, model: Any, prompt_ids: torch.Tensor, prompt_mask: torch.Tensor, completion_ids: torch.Tensor, completion_mask: torch.Tensor
    ) -> torch.Tensor:
        """``[N, T, V]`` temperature-scaled logits predicting each completion token (positions as the sampler's).

        With ``B`` prompts for ``N = B * G`` completions (rows ``b*G:(b+1)*G`` share prompt ``b``), each prompt goes
        through the model once and the completions attend to its keys/values (`SharedPrompts`, plain autograd);
        with one prompt per row, one forward over prompt + completion (`RowPrompts`).
        """
        rows = completion_ids.shape[0]
        group = rows // prompt_ids.shape[0]
        source = SharedPrompts(model, prompt_ids, prompt_mask, group, detach=False) if group > 1 else RowPrompts(prompt_ids, prompt_mask, 1)
        every_row = torch.arange(rows, device=completion_ids.device)
        return tempered(source.logits(model, every_row, completion_ids, completion_mask), self.temperature)

    def policy_logprobs(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Token log-probs ``[N, T]`` (with grad) of the completions under the current policy, and the logits."""
        logits = self.completion_logits(self.model, *inputs)
        return token_logprobs(logits, inputs[2]), logits

    @torch.no_grad()
    def reference_logprobs(self, *inputs: torch.Tensor) -> torch.Tensor:
        """Token log-probs under the reference: the adapter-disabled model with LoRA, else the frozen copy."""
        with self.reference() as model:
            return token_logprobs(self.completion_logits(model, *inputs), inputs[2])

    @contextlib.contextmanager
    def reference(self) -> Iterator[Any]:
        """The reference model: the frozen copy, or with LoRA the policy with its adapter disabled while the block runs."""
        if self.ref_model is not None:
            yield self.ref_model
            return
        with self.model.disable_adapter():  # type: ignore[operator]
            yield self.model

    # ------------------------------------------------------------------ prompt stream and state
    def refill_prompts(self, n: int) -> dict[str, torch.Tensor]:
        """A batch of ``n`` further prompts from the ``rl`` split's refill stream."""
        if self.stream is None:
            # Each rank refills from its own shard of one seeded order: no prompt is drawn twice in a pass.
            size = self.judge.size("rl")
            self.stream = PromptStream(size, seed=self.rollout_seed + 1, rank=self.global_rank, world_size=self.trainer.world_size)
            if self._stream_state is not None:
                self.stream.load_state_dict(self._stream_state)
        batch = prompt_batch(self.tokenizer, self.judge, "rl", self.stream.take(n))
        return {k: v.to(self.device) for k, v in batch.items()}

    def rollout_generator(self) -> torch.Generator:
        """The sampling generator, on the model's device, with the checkpointed state once one was loaded."""
        if self.generator.device != self.device:
            self.generator = torch.Generator(device=self.device).manual_seed(self.rollout_seed)
        if self._generator_state is not None:
            self.generator.set_state(self._generator_state)
            self._generator_state = None
        return self.generator

    @override
    def on_fit_start(self) -> None:
        if self.global_rank > 0:  # independent sampling noise per rank (a checkpointed state still wins)
            self.generator = torch.Generator(device=self.device).manual_seed(self.rollout_seed + self.global_rank)
        if self.ref_model is not None:
            self.ref_model.to(self.device)  # type: ignore[arg-type]

    @override
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_save_checkpoint(checkpoint)
        generator = self._generator_state if self._generator_state is not None else self.generator.get_state()
        stream = self.stream.state_dict() if self.stream is not None else self._stream_state
        checkpoint["grpo"] = {"generator": generator, "stream": stream}
        if self.trainer.world_size > 1:  # ranks sample and refill differently: each resumes its own state
            checkpoint["grpo"]["ranks"] = gather_from_ranks(self.trainer, {"generator": generator, "stream": stream})

    @override
    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        state = checkpoint.get("grpo")
        if state is not None and "ranks" in state:
            state = state["ranks"][self.trainer.global_rank]
        if state is not None:
            self._generator_state = state["generator"]
            self._stream_state = state["stream"]
            if self.stream is not None and state["stream"] is not None:
                self.stream.load_state_dict(state["stream"])

    # ------------------------------------------------------------------ validation
    @override
    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int, dataloader_idx: int = 0) -> None:
        self.evaluate(batch, batch_idx, dataloader_idx, "val")

    def evaluate(self, batch: dict[str, torch.Tensor], batch_idx: int, dataloader_idx: int, prefix: str) -> None:
        """Greedy accuracy, and avg@k / pass@k of ``val_num_samples`` samples at the training temperature."""
        # Own generator, seeded by the batch: the same samples at every validation, rollouts untouched.
        seed = 1_000_003 * (dataloader_idx + 1) + batch_idx
        self.judge_batch(batch, self.eval_split(dataloader_idx), prefix, self.sampling, self.val_num_samples, seed)


def rollout_stats(batch: Rollouts) -> dict[str, float]:
    """Reward, accuracy, group-spread and length statistics of every sampled group (before any filtering)."""
    rewards, correct = batch.grouped(batch.rewards).float(), batch.grouped(batch.correct).float()
    zero_std = rewards.max(1).values == rewards.min(1).values
    lengths = batch.completion_mask.sum(1).float()
    return {
        "rollout/reward_mean": float(rewards.mean()),
        "rollout/reward_std": float(rewards.std()) if rewards.numel() > 1 else 0.0,
        "rollout/acc": float(correct.mean()),
        "rollout/frac_zero_std": float(zero_std.float().mean()),
        "rollout/frac_all_correct": float((correct.min(1).values == 1).float().mean()),
        "rollout/frac_all_wrong": float((correct.max(1).values == 0).float().mean()),
        "rollout/completion_len_min": float(lengths.min()),
        "rollout/completion_len_mean": float(lengths.mean()),
        "rollout/completion_len_max": float(lengths.max()),
        "rollout/clipped_frac": float(batch.truncated.float().mean()),
    }


def tempered(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """Float32 logits divided by the sampling temperature (at temperature 1, the logits: x / 1.0 is x, and skipping it
    saves a pass over the ``[n, T, V]`` logits and one over their gradient)."""
    logits = logits.float()
    return logits if temperature == 1.0 else logits / temperature


def _add(sums: dict[str, float], key: str, value: float) -> None:
    sums[key] = sums.get(key, 0.0) + value
