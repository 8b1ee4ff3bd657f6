import csv
import dataclasses
import itertools
from functools import partial

import lightning as L
import pytest
import torch
from lightning.pytorch.loggers import CSVLogger

from bilight.cli import run as cli_run
from bilight.losses import LOSS_TYPES
from bilight.metrics.names import describe
from bilight.modules import GRPOModule, WarmupCosine
from bilight.modules import grpo as grpo_module
from bilight.modules.grpo import rollout_stats
from bilight.modules.grpo_batch import PromptStream, length_buckets, prepend_to_groups, take_members
from bilight.modules.prompts import SharedPrompts, padding_columns
from bilight.rewards import Reward
from bilight.rollout import generate
from bilight.testing import TINY_MODEL, tiny_datamodule, tiny_model
from bilight.types import Problem, Rollouts, Verdict

STEP_METRICS = {
    "train/loss", "train/clip_low", "train/clip_high", "train/clip_region", "train/entropy", "train/grad_norm", "train/lr",
    "train/tokens_per_sec", "rollout/reward_mean", "rollout/reward_std", "rollout/acc", "rollout/frac_zero_std",
    "rollout/frac_all_correct", "rollout/frac_all_wrong", "rollout/completion_len_min", "rollout/completion_len_mean",
    "rollout/completion_len_max", "rollout/clipped_frac", "time/generation", "time/scoring", "time/update",
}  # fmt: skip


class LengthReward(Reward):
    """A reward a random model's samples differ on: completion length in characters / 10."""

    name = "chars"

    def __call__(self, completion: str, problem: Problem, verdict: Verdict) -> float:
        return len(completion) / 10


class OddProblemsSpread(Reward):
    """Zero spread on even problem indices; alternating 0/1 (so spread) within the groups of odd ones."""

    name = "odd"

    def __init__(self, weight: float = 1.0) -> None:
        super().__init__(weight)
        self.calls = 0

    def __call__(self, completion: str, problem: Problem, verdict: Verdict) -> float:
        self.calls += 1
        return float(self.calls % 2) if problem.index % 2 else 0.0


def _trainer(tmp_path, steps: int = 2, **kwargs) -> L.Trainer:
    defaults = dict(
        max_steps=steps, accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, num_sanity_val_steps=0, limit_val_batches=0, log_every_n_steps=1, default_root_dir=tmp_path,
    )  # fmt: skip
    return L.Trainer(**(defaults | kwargs))


def _module(dm, **kwargs) -> GRPOModule:
    args = dict(tokenizer=dm.tokenizer, judge=dm.judge, num_generations=4, max_new_tokens=8, val_num_samples=0, rewards=[LengthReward()])
    return GRPOModule(**(args | TINY_MODEL | kwargs))


def test_two_grpo_steps_change_every_parameter_and_log_every_metric(tmp_path) -> None:
    L.seed_everything(0)
    dm = tiny_datamodule(train_split="rl")
    module = _module(dm)
    before = {n: p.detach().clone() for n, p in module.named_parameters()}
    trainer = _trainer(tmp_path, logger=CSVLogger(tmp_path, name="grpo"))
    trainer.fit(module, datamodule=dm)
    assert trainer.global_step == 2
    unchanged = [n for n, p in module.named_parameters() if torch.equal(p, before[n])]
    assert unchanged == []
    rows = list(csv.DictReader(next(tmp_path.rglob("metrics.csv")).open()))
    logged = {k for row in rows for k, v in row.items() if v != ""}
    assert logged >= STEP_METRICS | {"rollout/reward_chars", "rollout/tokens_per_sec"}
    for key in logged - {"epoch", "step"}:
        describe(key)  # every logged key is in the table of metric names
    assert "train/kl" not in logged  # beta == 0: no reference model, no KL
    assert all(torch.isfinite(torch.tensor(float(r["train/loss"]))) for r in rows if r.get("train/loss"))
    assert module.ref_model is None


def test_dynamic_sampling_drops_zero_spread_groups_and_refills(tmp_path) -> None:
    dm = tiny_datamodule(train_split="rl")
    module = _module(dm, dynamic_sampling=True, max_refills=8, rewards=[OddProblemsSpread()])
    trainer = _trainer(tmp_path, steps=1)
    trainer.fit(module, datamodule=dm)
    metrics = trainer.callback_metrics
    assert metrics["rollout/refills"] >= 1  # about half the groups are dropped, so a refill is needed
    assert metrics["rollout/kept_groups"] == dm.batch_size
    assert 0 < metrics["rollout/frac_zero_std"] < 1

    batch = next(iter(dm.train_dataloader()))
    train, stats = module.collect_rollouts(batch)
    assert train.num_prompts == dm.batch_size
    assert bool(GRPOModule.informative(train).all())
    assert train.completion_ids.shape[0] == dm.batch_size * module.num_generations

    module.max_refills = 0
    train, stats = module.collect_rollouts(batch)
    assert stats["rollout/refills"] == 0 and train.num_prompts < dm.batch_size


def _fixed_rollout(dm, module: GRPOModule) -> Rollouts:
    dm.setup("fit")
    batch = next(iter(dm.prompt_loader("rl", 4)))
    out = generate(
        module.model, batch["prompt_ids"], batch["prompt_mask"], max_new_tokens=8, eos_token_id=dm.tokenizer.eos_token_id,
        num_generations=4, generator=torch.Generator().manual_seed(0),
    )  # fmt: skip
    rewards = torch.rand(16, generator=torch.Generator().manual_seed(1))
    truncated = torch.zeros_like(out.truncated)
    truncated[0] = True  # a random model rarely stops within 8 tokens: flag one row so the mask has something to drop
    return dataclasses.replace(out, truncated=truncated, rewards=rewards, correct=(rewards > 0.5).float())


def _parameter_step(tmp_path, dm, rollout: Rollouts, **kwargs) -> dict[str, torch.Tensor]:
    """One update on a fixed rollout with SGD lr 1: the parameter change is minus the gradient."""
    module = _module(
        dm, optimizer=partial(torch.optim.SGD, lr=1.0), scheduler=partial(WarmupCosine, warmup_steps=0), max_grad_norm=None, **kwargs
    )
    module.collect_rollouts = lambda batch: (rollout, rollout_stats(rollout) | {"_generated_tokens": 1.0})  # type: ignore[method-assign]
    before = {n: p.detach().clone() for n, p in module.named_parameters()}
    _trainer(tmp_path, steps=1).fit(module, datamodule=dm)
    return {n: p.detach() - before[n] for n, p in module.named_parameters()}


CASES = [(t, 3, True) for t in LOSS_TYPES if t != "bnpo"] + [(t, 4, False) for t in LOSS_TYPES]


@pytest.mark.parametrize(("loss_type", "micro_batch_size", "mask_truncated"), CASES)
def test_micro_batch_accumulation_gives_the_full_batch_gradient(tmp_path, loss_type, micro_batch_size, mask_truncated) -> None:
    """Uneven splits (16 rows = 5x3 + 1) for the losses normalised per batch; bnpo only when micro-batches hold equal token counts."""
    dm = tiny_datamodule(train_split="rl")
    rollout = _fixed_rollout(dm, _module(dm))
    if not mask_truncated:  # equal token counts per micro-batch: every row counts all its columns
        rollout = dataclasses.replace(rollout, completion_mask=torch.ones_like(rollout.completion_mask))
    opts = dict(loss_type=loss_type, mask_truncated_completions=mask_truncated, beta=0.05)
    full = _parameter_step(tmp_path, dm, rollout, **opts)
    micro = _parameter_step(tmp_path, dm, rollout, micro_batch_size=micro_batch_size, **opts)
    assert max(float(p.abs().max()) for p in full.values()) > 1e-4
    for name, delta in full.items():
        torch.testing.assert_close(micro[name], delta, atol=1e-5, rtol=1e-4, msg=name)


@pytest.mark.parametrize("loss_type", ["dapo", "grpo", "dr_grpo"])
def test_length_bucketed_micro_batches_give_the_one_batch_gradient(tmp_path, monkeypatch, loss_type) -> None:
    """The default update packs rows of similar length into small micro-batches: same step as one batch of all rows."""
    dm = tiny_datamodule(train_split="rl")
    rollout = _fixed_rollout(dm, _module(dm))
    opts = dict(loss_type=loss_type, mask_truncated_completions=True, beta=0.05)
    one_batch = _parameter_step(tmp_path, dm, rollout, micro_batch_size=16, **opts)
    monkeypatch.setattr(grpo_module, "UPDATE_TOKENS", 40)  # a few rows per micro-batch
    module = _module(dm, **opts)
    widths = [len(c) for c in module.micro_batches(rollout)]
    assert len(widths) > 3 and sum(widths) == 16
    bucketed = _parameter_step(tmp_path, dm, rollout, **opts)
    for name, delta in one_batch.items():
        torch.testing.assert_close(bucketed[name], delta, atol=1e-5, rtol=1e-4, msg=name)


def _ragged(rollout: Rollouts, pad: int = 0) -> Rollouts:
    """Prompts of unequal length (left padding) and completions of 1 to 8 tokens (right padding)."""
    prompt_ids, prompt_mask = rollout.prompt_ids.clone(), rollout.prompt_mask.clone()
    for b, cut in enumerate((0, 3, 6, 1)):
        prompt_ids[b, :cut], prompt_mask[b, :cut] = pad, 0
    completion_ids, completion_mask = rollout.completion_ids.clone(), rollout.completion_mask.clone()
    for r in range(completion_ids.shape[0]):
        completion_ids[r, 1 + (5 * r) % 8 :], completion_mask[r, 1 + (5 * r) % 8 :] = pad, 0
    return dataclasses.replace(
        rollout, prompt_ids=prompt_ids, prompt_mask=prompt_mask, completion_ids=completion_ids, completion_mask=completion_mask
    )


@pytest.mark.parametrize(
    ("loss_type", "micro_batch_size", "num_iterations"),
    [("dapo", None, 1), ("grpo", 5, 1), ("dr_grpo", None, 1), ("bnpo", None, 1), ("dapo", None, 2)],
)
def test_prompts_forwarded_once_give_the_per_row_step(tmp_path, monkeypatch, loss_type, micro_batch_size, num_iterations) -> None:
    """prompt_once (the default): the step's prompts go through the model once, micro-batches of rows from any group read
    their keys/values, and the micro-batches' gradients go back through the prompt forward once. Same step as one forward
    per row over prompt + completion, with a KL term (reference log-probs through the same path), masked rows, and with
    two optimizer steps per batch (old log-probs through the same path too)."""
    dm = tiny_datamodule(train_split="rl")
    rollout = _ragged(_fixed_rollout(dm, _module(dm)))
    opts = dict(loss_type=loss_type, mask_truncated_completions=True, beta=0.05, num_iterations=num_iterations)
    per_row = _parameter_step(tmp_path, dm, rollout, prompt_once=False, micro_batch_size=16, **opts)
    monkeypatch.setattr(grpo_module, "UPDATE_TOKENS", 40)  # a few rows per micro-batch
    module = _module(dm, micro_batch_size=micro_batch_size, **opts)
    chunks = module.micro_batches(rollout)
    assert sorted(torch.cat(chunks).tolist()) == list(range(16))
    assert len(chunks) == (1 if loss_type == "bnpo" else 4 if micro_batch_size == 5 else 11)
    if micro_batch_size is None and loss_type != "bnpo":  # rows of similar length, whatever their group
        assert any(len({int(r) // 4 for r in c}) > 1 for c in chunks)
        work = rollout.completion_mask.sum(1) + rollout.prompt_mask.sum(1).repeat_interleave(4)  # completion + prompt
        assert all(int(work[a].min()) >= int(work[b].max()) for a, b in itertools.pairwise(chunks))
    pieces = []  # the prompts of each surrogate backward: all four prompts, in pieces of at most 40 tokens
    surrogate = SharedPrompts.surrogate
    monkeypatch.setattr(SharedPrompts, "surrogate", lambda self, prompts: pieces.append(len(prompts)) or surrogate(self, prompts))
    shared = _parameter_step(tmp_path, dm, rollout, micro_batch_size=micro_batch_size, **opts)
    assert sum(pieces) == 4 * num_iterations and len(pieces) > num_iterations
    assert max(float(p.abs().max()) for p in per_row.values()) > 1e-4
    for name, delta in per_row.items():
        torch.testing.assert_close(shared[name], delta, atol=1e-5, rtol=1e-4, msg=name)


def test_shared_prompt_logprobs_equal_the_per_row_ones() -> None:
    dm = tiny_datamodule(train_split="rl")
    module = _module(dm, temperature=0.7)
    rollout = _ragged(_fixed_rollout(dm, module))
    repeated = [rollout.prompt_ids.repeat_interleave(4, 0), rollout.prompt_mask.repeat_interleave(4, 0)]
    per_row, _ = module.policy_logprobs(*repeated, rollout.completion_ids, rollout.completion_mask)
    shared, _ = module.policy_logprobs(rollout.prompt_ids, rollout.prompt_mask, rollout.completion_ids, rollout.completion_mask)
    mask = rollout.completion_mask.bool()
    assert shared.shape == per_row.shape and (shared[mask] - per_row[mask]).abs().max() < 1e-5
    single, _ = module.policy_logprobs(
        rollout.prompt_ids, rollout.prompt_mask, rollout.completion_ids[:, :1], rollout.completion_mask[:, :1]
    )
    assert torch.allclose(single[:, 0], per_row[:, 0], atol=1e-5)  # a one-token completion: the prompt's own last logits
    empty = module.completion_logits(
        module.model, rollout.prompt_ids, rollout.prompt_mask, *(x[:, :0] for x in (rollout.completion_ids, rollout.completion_mask))
    )
    assert empty.shape == (16, 0, module.model.config.vocab_size)  # as the per-row path: no column, no logits


def test_length_buckets_and_padding_columns() -> None:
    chunks = length_buckets(torch.tensor([3, 9, 5, 9, 1]), budget=18)
    assert [c.tolist() for c in chunks] == [[1, 3], [2, 0, 4]]  # longest first; 18 // 9 = 2 rows, then 18 // 5 = 3
    assert padding_columns(torch.tensor([[0, 0, 1, 1], [0, 1, 1, 1]])) == 1
    assert padding_columns(torch.tensor([[0, 0, 0], [0, 0, 0]])) == 2  # an all-padding batch keeps one column
    assert padding_columns(torch.zeros(0, 5, dtype=torch.long)) == 0


def test_training_logprobs_equal_rollout_logprobs_so_the_first_ratio_is_one() -> None:
    dm = tiny_datamodule(train_split="rl")
    module = _module(dm, temperature=0.7)
    dm.setup("fit")
    batch = next(iter(dm.prompt_loader("rl", 4)))
    out = generate(
        module.model, batch["prompt_ids"], batch["prompt_mask"], max_new_tokens=12, eos_token_id=dm.tokenizer.eos_token_id,
        num_generations=4, temperature=0.7, generator=torch.Generator().manual_seed(0),
    )  # fmt: skip
    prompt_ids, prompt_mask = (batch[k].repeat_interleave(4, 0) for k in ("prompt_ids", "prompt_mask"))
    logprobs, _ = module.policy_logprobs(prompt_ids, prompt_mask, out.completion_ids, out.completion_mask)
    mask = out.completion_mask.bool()
    assert (logprobs[mask] - out.logprobs[mask]).abs().max() < 1e-4


def test_beta_holds_a_frozen_reference_copy_outside_parameters_and_logs_kl(tmp_path) -> None:
    dm = tiny_datamodule(train_split="rl")
    module = _module(dm, beta=0.1)
    assert module.ref_model is not None
    assert not any(p.requires_grad for p in module.ref_model.parameters())
    assert not any(k.startswith("ref_model") for k in module.state_dict())
    ref_before = {n: p.clone() for n, p in module.ref_model.named_parameters()}
    trainer = _trainer(tmp_path)
    trainer.fit(module, datamodule=dm)
    assert all(torch.equal(p, ref_before[n]) for n, p in module.ref_model.named_parameters())
    kl = trainer.callback_metrics["train/kl"]
    assert torch.isfinite(kl) and kl > 0  # step 2 compares the once-updated policy with the reference


def test_lora_reference_is_the_adapter_disabled_base_model(tmp_path) -> None:
    dm = tiny_datamodule(train_split="rl")
    optimizer = partial(torch.optim.AdamW, lr=0.05)  # large enough that k3 of the step-2 policy is not lost to rounding
    module = _module(dm, beta=0.1, lora_r=4, lora_target_modules=["q_proj", "v_proj"], seed=5, optimizer=optimizer)
    assert module.ref_model is None  # no copy
    trainer = _trainer(tmp_path)
    trainer.fit(module, datamodule=dm)
    assert trainer.callback_metrics["train/kl"] > 0
    base = tiny_model(dm.tokenizer, seed=5)
    rollout = _fixed_rollout(dm, module)
    inputs = (
        rollout.prompt_ids.repeat_interleave(4, 0), rollout.prompt_mask.repeat_interleave(4, 0),
        rollout.completion_ids, rollout.completion_mask,
    )  # fmt: skip
    with torch.no_grad():
        expected, _ = module.policy_logprobs(*inputs)  # the trained policy differs from the base...
        reference = module.reference_logprobs(*inputs)
        module_base = module.completion_logits(base, *inputs)
    mask = rollout.completion_mask.bool()
    from bilight.losses import token_logprobs

    torch.testing.assert_close(reference[mask], token_logprobs(module_base, rollout.completion_ids)[mask], atol=1e-5, rtol=1e-5)
    assert (expected[mask] - reference[mask]).abs().max() > 1e-6


def test_checkpoint_restores_rollout_generator_and_prompt_stream(tmp_path) -> None:
    dm = tiny_datamodule(train_split="rl")
    module = _module(dm, dynamic_sampling=True, rewards=[OddProblemsSpread()])
    trainer = _trainer(tmp_path, steps=1)
    trainer.fit(module, datamodule=dm)
    trainer.save_checkpoint(tmp_path / "a.ckpt")
    assert module.stream is not None and module.stream.position > 0
    expected_prompts = PromptStream(dm.num_rl, module.rollout_seed + 1)
    expected_prompts.load_state_dict(module.stream.state_dict())
    expected_draw = torch.rand(3, generator=module.generator)

    resumed = _module(dm, dynamic_sampling=True, rewards=[OddProblemsSpread()])
    resumed.on_load_checkpoint(torch.load(tmp_path / "a.ckpt", weights_only=False))
    resumed.trainer = trainer  # type: ignore[misc]
    assert torch.equal(torch.rand(3, generator=resumed.rollout_generator()), expected_draw)
    resumed.refill_prompts(1)
    assert resumed.stream is not None and resumed.stream.position == expected_prompts.position + 1


def test_prepend_to_groups_puts_one_row_first_in_every_group_and_pads_to_the_longest() -> None:
    prompts = torch.ones(2, 1, dtype=torch.long)
    first = Rollouts(prompts, prompts, torch.tensor([[1, 2, 3], [4, 5, 0]]), torch.tensor([[1, 1, 1], [1, 1, 0]]), torch.full((2, 3), -0.5),
                     torch.tensor([True, False]), texts=("g0", "g1"), correct=torch.tensor([1.0, 0.0]))  # fmt: skip
    rest = Rollouts(
        prompts, prompts, torch.tensor([[6], [7], [8], [9]]), torch.ones(4, 1, dtype=torch.long), torch.full((4, 1), -1.0),
        torch.zeros(4, dtype=torch.bool), texts=("a", "b", "c", "d"), correct=torch.tensor([0.0, 1.0, 1.0, 0.0]),
    )  # fmt: skip
    out = prepend_to_groups(first, rest, pad_token_id=0)
    assert out.texts == ("g0", "a", "b", "g1", "c", "d") and out.correct.tolist() == [1, 0, 1, 0, 1, 0]  # type: ignore[union-attr]
    assert out.group_size == 3
    assert out.completion_ids.tolist() == [[1, 2, 3], [6, 0, 0], [7, 0, 0], [4, 5, 0], [8, 0, 0], [9, 0, 0]]
    assert out.completion_mask.tolist() == [[1, 1, 1], [1, 0, 0], [1, 0, 0], [1, 1, 0], [1, 0, 0], [1, 0, 0]]
    assert out.logprobs[:, 0].tolist() == [-0.5, -1.0, -1.0, -0.5, -1.0, -1.0] and out.logprobs[1:3, 1:].abs().sum() == 0
    assert out.truncated.tolist() == [True, False, False, False, False, False]


def test_greedy_in_group_makes_member_zero_the_greedy_completion(tmp_path) -> None:
    dm = tiny_datamodule(train_split="rl")
    module = _module(dm, greedy_in_group=True, rewards=[])
    trainer = _trainer(tmp_path, steps=1)
    trainer.fit(module, datamodule=dm)
    assert "rollout/greedy_acc" in trainer.callback_metrics
    batch = next(iter(dm.train_dataloader()))
    rollout, stats = module.collect_rollouts(batch)
    greedy = generate(
        module.model, batch["prompt_ids"], batch["prompt_mask"], max_new_tokens=8, eos_token_id=dm.tokenizer.eos_token_id,
        pad_token_id=dm.tokenizer.pad_token_id, do_sample=False,
    )  # fmt: skip
    width = greedy.completion_ids.shape[1]
    members = rollout.completion_ids.view(batch["prompt_ids"].shape[0], module.num_generations, -1)
    assert torch.equal(members[:, 0, :width], greedy.completion_ids)
    assert not bool((members[:, 0, width:] != dm.tokenizer.pad_token_id).any())
    texts = dm.tokenizer.batch_decode(greedy.completion_ids, skip_special_tokens=True)
    greedy_correct = torch.tensor([float(v.correct) for v in dm.judge("rl", batch["index"].tolist(), texts)])
    assert torch.equal(rollout.grouped(rollout.correct)[:, 0].float(), greedy_correct)
    assert stats["rollout/greedy_acc"] == pytest.approx(float(greedy_correct.mean()))
    assert rollout.grouped(rollout.rewards).shape == (batch["prompt_ids"].shape[0], module.num_generations)


def test_prompt_stream_is_an_endless_seeded_order() -> None:
    stream = PromptStream(5, seed=3)
    first = stream.take(7)
    assert sorted(first[:5]) == list(range(5)) and stream.epoch == 1 and stream.position == 2
    again = PromptStream(5, seed=3)
    assert again.take(3) + again.take(4) == first


def test_prompt_stream_shards_are_disjoint_across_ranks() -> None:
    whole = PromptStream(10, seed=3).take(10)
    shards = [PromptStream(10, seed=3, rank=r, world_size=2).take(5) for r in range(2)]
    assert shards[0] == whole[0::2] and shards[1] == whole[1::2]
    assert sorted(shards[0] + shards[1]) == list(range(10))


def test_validation_logs_greedy_and_sampled_accuracy(tmp_path) -> None:
    dm = tiny_datamodule(train_split="rl")
    module = _module(dm, val_num_samples=2)
    results = _trainer(tmp_path, limit_val_batches=1).validate(module, datamodule=dm)
    metrics = {k for per_loader in results for k in per_loader}
    assert metrics >= {"val/acc_id", "val/acc_ood", "val/avg@2_id", "val/pass@2_id", "val/avg@2_ood"}


def test_cli_help_lists_grpo_and_base_options(capsys) -> None:
    with pytest.raises(SystemExit):
        cli_run(["fit", "--model.help", "bilight.modules.GRPOModule"])
    out = capsys.readouterr().out
    assert "--model.num_generations" in out and "completions per prompt (G, the group size)" in out
    assert "--model.init_from" in out and "--model.lora_r" in out  # the LMModule arguments behind **kwargs


def test_rollouts_are_one_flat_layout() -> None:
    prompts = torch.ones(2, 3, dtype=torch.long)
    rows = torch.arange(6)[:, None]
    out = Rollouts(prompts, prompts, rows, rows, rows.float(), torch.zeros(6, dtype=torch.bool), correct=torch.arange(6.0))
    assert out.num_prompts == 2 and out.group_size == 3
    assert out.grouped(out.correct).tolist() == [[0, 1, 2], [3, 4, 5]]
    with pytest.raises(ValueError, match="not filled yet"):
        out.grouped(out.rewards)


def test_take_members_splits_groups_and_drops_unused_columns() -> None:
    # 2 prompts x 3 members; row lengths 1, 3, 2 | 2, 1, 4 (4 columns, 0 = pad)
    mask = torch.tensor([[1, 0, 0, 0], [1, 1, 1, 0], [1, 1, 0, 0], [1, 1, 0, 0], [1, 0, 0, 0], [1, 1, 1, 1]])
    r = Rollouts(
        prompt_ids=torch.ones(2, 2, dtype=torch.long), prompt_mask=torch.ones(2, 2, dtype=torch.long),
        completion_ids=mask * torch.arange(1, 7)[:, None], completion_mask=mask, logprobs=-mask.float(),
        truncated=torch.tensor([0, 0, 0, 0, 0, 1]).bool(), texts=tuple("abcdef"), correct=torch.tensor([1.0, 0, 0, 1, 1, 0]),
        verdicts=tuple(Verdict(bool(c), None) for c in [1, 0, 0, 1, 1, 0]), index=torch.tensor([7, 9]), split="test",
    )  # fmt: skip
    first, rest = take_members(r, 0, 1), take_members(r, 1, 3)
    assert first.group_size == 1 and rest.group_size == 2 and first.num_prompts == rest.num_prompts == 2
    assert first.completion_ids.tolist() == [[1, 0], [4, 4]]  # rows 0 and 3; the longest of them is 2 tokens
    assert rest.completion_ids.tolist() == [[2, 2, 2, 0], [3, 3, 0, 0], [5, 0, 0, 0], [6, 6, 6, 6]]
    assert first.texts == ("a", "d") and rest.texts == ("b", "c", "e", "f")
    assert first.correct.tolist() == [1.0, 1.0] and [v.correct for v in rest.verdicts] == [False, False, True, False]
    assert rest.truncated.tolist() == [False, False, False, True] and first.logprobs.tolist() == [[-1.0, 0.0], [-1.0, -1.0]]
    assert torch.equal(first.index, r.index) and first.split == "test" and first.rewards is None
    with pytest.raises(ValueError, match="take_members"):
        take_members(r, 2, 4)
