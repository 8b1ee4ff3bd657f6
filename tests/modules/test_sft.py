import lightning as L
import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from bilight.errors import CheckpointError
from bilight.modules import SFTModule
from bilight.rollout import prompt_batch, sample_and_judge
from bilight.testing import TINY_MODEL, StandInJudge, tiny_datamodule, tiny_model


def _trainer(tmp_path, steps: int = 2) -> L.Trainer:
    return L.Trainer(
        max_steps=steps,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_val_batches=1,
        default_root_dir=tmp_path,
    )


def test_two_sft_steps_change_every_parameter_with_finite_loss(tmp_path) -> None:
    L.seed_everything(0)
    dm = tiny_datamodule()
    module = SFTModule(tokenizer=dm.tokenizer, judge=dm.judge, **TINY_MODEL)
    before = {n: p.detach().clone() for n, p in module.named_parameters()}
    trainer = _trainer(tmp_path)
    trainer.fit(module, datamodule=dm)
    loss = trainer.callback_metrics["train/loss"]
    assert torch.isfinite(loss) and loss > 0
    unchanged = [n for n, p in module.named_parameters() if torch.equal(p, before[n])]
    assert unchanged == []


def test_loss_is_mean_cross_entropy_over_completion_tokens() -> None:
    dm = tiny_datamodule()
    dm.setup("fit")
    module = SFTModule(tokenizer=dm.tokenizer, judge=dm.judge, **TINY_MODEL)
    batch = next(iter(dm.train_dataloader()))
    loss = module.lm_loss(batch)
    logits = module.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    total, count = 0.0, 0
    for b in range(batch["input_ids"].shape[0]):
        for t in range(1, batch["input_ids"].shape[1]):
            label = int(batch["labels"][b, t])
            if label != -100:
                total -= torch.log_softmax(logits[b, t - 1], -1)[label].item()
                count += 1
    assert loss.item() == pytest.approx(total / count, rel=1e-5)


def test_validate_logs_greedy_accuracy_in_and_out_of_distribution(tmp_path) -> None:
    dm = tiny_datamodule()
    module = SFTModule(tokenizer=dm.tokenizer, judge=dm.judge, max_new_tokens=8, **TINY_MODEL)
    results = _trainer(tmp_path).validate(module, datamodule=dm)
    metrics = {k: v for per_loader in results for k, v in per_loader.items()}
    assert set(metrics) >= {"val/loss", "val/acc_id", "val/acc_ood"}
    assert metrics["val/acc_id"] == 0.0  # an untrained model cannot box the answer in 8 tokens


def test_export_and_reload_with_plain_transformers_gives_identical_logits(tmp_path) -> None:
    dm = tiny_datamodule()
    module = SFTModule(tokenizer=dm.tokenizer, judge=dm.judge, **TINY_MODEL)
    module.export(str(tmp_path / "hf"))
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "hf")
    tok = AutoTokenizer.from_pretrained(tmp_path / "hf")
    text = "Lion per Oak equals 3. Question: What is Lion per Oak?\nAnswer:"
    ids = tok(text, return_tensors="pt", add_special_tokens=False)["input_ids"]
    assert ids.tolist() == dm.tokenizer(text, return_tensors="pt", add_special_tokens=False)["input_ids"].tolist()
    with torch.no_grad():
        assert torch.equal(model(ids).logits, module.model(ids).logits)


def test_name_or_path_loads_a_saved_model_and_lora_trains_only_adapters(tmp_path) -> None:
    dm = tiny_datamodule()
    tiny_model(dm.tokenizer, seed=3).save_pretrained(tmp_path / "base")
    dm.tokenizer.save_pretrained(tmp_path / "base")
    dm_pre = tiny_datamodule(tokenizer_name=str(tmp_path / "base"))
    module = SFTModule(
        tokenizer=dm_pre.tokenizer,
        judge=dm_pre.judge,
        name_or_path=str(tmp_path / "base"),
        lora_r=4,
        lora_target_modules=["q_proj", "v_proj"],
    )
    trainable = [n for n, p in module.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    before = {n: p.detach().clone() for n, p in module.named_parameters()}
    _trainer(tmp_path).fit(module, datamodule=dm_pre)
    changed = {n for n, p in module.named_parameters() if not torch.equal(p, before[n])}
    assert {n for n in trainable if "lora_B" in n} <= changed
    assert all("lora_" in n for n in changed)


def test_init_from_checkpoint_and_folder_restores_weights(tmp_path) -> None:
    dm = tiny_datamodule()
    trained = SFTModule(tokenizer=dm.tokenizer, judge=dm.judge, seed=1, **TINY_MODEL)
    trainer = _trainer(tmp_path)
    trainer.fit(trained, datamodule=dm)
    trainer.save_checkpoint(tmp_path / "a.ckpt")
    trained.export(str(tmp_path / "hf"))
    for source in (tmp_path / "a.ckpt", tmp_path / "hf"):
        fresh = SFTModule(tokenizer=dm.tokenizer, judge=dm.judge, seed=2, init_from=str(source), **TINY_MODEL)
        for (n, p), q in zip(fresh.model.named_parameters(), trained.model.parameters(), strict=True):
            assert torch.equal(p, q), n
    with pytest.raises(CheckpointError, match="init_from"):
        SFTModule(tokenizer=dm.tokenizer, judge=dm.judge, init_from=str(tmp_path / "missing.ckpt"), **TINY_MODEL)


def _even_length(index: int, text: str) -> bool:
    return len(text) % 2 == 0


@pytest.mark.parametrize("stop_strings", [(), ("zz",)])
def test_greedy_and_samples_of_one_loop_equal_two_calls(monkeypatch, stop_strings) -> None:
    """judge_batch decodes greedy + k samples in one loop when it can (no stop strings); either way it equals two calls."""
    dm = tiny_datamodule(num_test=6, num_test_ood=3)
    judge = StandInJudge(dm.judge, _even_length)
    module = SFTModule(tokenizer=dm.tokenizer, judge=judge, max_new_tokens=8, test_num_samples=3, **TINY_MODEL)
    monkeypatch.setattr(module, "log_accuracy", lambda *args, **kwargs: None)
    batch = prompt_batch(dm.tokenizer, dm.judge, "test", list(range(6)))
    sampling = module.test_sampling.with_(stop_strings=stop_strings)
    assert module.folds_greedy(sampling) == (not stop_strings)
    greedy, sampled = module.judge_batch(batch, "test", "test", sampling, 3, seed=5)
    expected_greedy = module.greedy_rollouts(batch, "test")
    expected = sample_and_judge(
        module.model, dm.tokenizer, batch, "test", sampling.with_(num_samples=3), judge, torch.Generator().manual_seed(5)
    )
    assert greedy.texts == expected_greedy.texts and torch.equal(greedy.completion_ids, expected_greedy.completion_ids)
    assert torch.equal(greedy.correct, expected_greedy.correct)
    assert sampled is not None and torch.equal(sampled, expected.grouped(expected.correct))
    assert 0 < float(sampled.mean()) < 1  # the stand-in verdicts vary, so the comparison can fail
