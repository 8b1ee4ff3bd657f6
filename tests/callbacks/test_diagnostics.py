"""RolloutAccuracy, CoInfluence and the RL-readiness report on the tiny model: metrics, figures, determinism, rank split."""

import json
from types import SimpleNamespace

import lightning as L
import pytest
import torch
from lightning.pytorch.loggers import TensorBoardLogger

import bilight.callbacks.co_influence as co_module
import bilight.callbacks.rollout_accuracy as ra_module
from bilight.callbacks import CoInfluence, RLReadinessReport, RolloutAccuracy, diagnose
from bilight.callbacks.probe import rank_chunks
from bilight.metrics.names import describe
from bilight.modules import SFTModule
from bilight.testing import TINY_MODEL, StandInJudge, tiny_datamodule

SMALL = {"num_prompts": 6, "num_samples": 4, "chunk_size": 4, "max_new_tokens": 8}


def _setup(verdict=None):
    """Tiny data module and module; ``verdict(index, text) -> bool`` replaces the verifier (a random model is never right)."""
    dm = tiny_datamodule(num_probe=6)
    judge = StandInJudge(dm.judge, verdict) if verdict is not None else dm.judge
    module = SFTModule(tokenizer=dm.tokenizer, judge=judge, max_new_tokens=8, **TINY_MODEL)
    return dm, module


def _mixed(index: int, text: str) -> bool:
    """A deterministic stand-in verifier that makes alpha vary across prompts and samples."""
    return (len(text) + index) % 3 == 0


def _trainer(tmp_path, callbacks, steps: int = 2, logger=False) -> L.Trainer:
    return L.Trainer(
        max_steps=steps,
        accelerator="cpu",
        logger=logger,
        callbacks=callbacks,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_val_batches=1,
        val_check_interval=steps,
        default_root_dir=tmp_path,
    )


def test_all_correct_rollouts_have_zero_informative_mass(tmp_path) -> None:
    dm, module = _setup(verdict=lambda index, text: True)
    rollout = RolloutAccuracy(**SMALL)
    _trainer(tmp_path, [rollout]).validate(module, datamodule=dm, verbose=False)
    m = rollout.metrics
    assert m["probe/informative_mass"] == 0.0
    assert m["probe/frac_alpha_1"] == 1.0 and m["probe/frac_alpha_0"] == 0.0
    assert m["probe/pass@1"] == m["probe/pass@4"] == m["probe/avg@4"] == m["probe/greedy_acc"] == m["probe/mean_alpha"] == 1.0
    assert "probe/pass@8" not in m  # k above N is skipped


def test_fit_and_validate_log_the_metric_names_and_write_figures(tmp_path) -> None:
    dm, module = _setup(verdict=_mixed)
    rollout = RolloutAccuracy(every_n_steps=1, on_validation=True, **SMALL)
    influence = CoInfluence(every_n_steps=2, dim=32, **SMALL)
    trainer = _trainer(tmp_path, [rollout, influence], logger=TensorBoardLogger(str(tmp_path), name="tb"))
    trainer.fit(module, datamodule=dm)
    names = {
        "probe/mean_alpha", "probe/informative_mass", "probe/frac_alpha_0", "probe/frac_alpha_1", "probe/greedy_acc",
        "probe/frac_truncated", "probe/pass@1", "probe/pass@2", "probe/pass@4", "probe/avg@4",
        "influence/co_influence", "influence/delta_j", "influence/k_plus", "influence/k_minus", "influence/co_influence_cos",
        "influence/delta_j_cos", "influence/k_plus_cos", "influence/k_minus_cos", "influence/num_pairs", "influence/grad_norm",
    }  # fmt: skip
    assert names <= set(trainer.callback_metrics)
    assert any(k.startswith("probe/acc_ops_") for k in trainer.callback_metrics)
    for key in trainer.callback_metrics:
        describe(key)  # every logged key is in the table of metric names
    assert rollout.seconds > 0 and influence.seconds > 0
    assert influence.metrics["influence/num_pairs"] > 0
    c = influence.result
    assert c is not None and abs(c.raw.co_influence - (c.raw.k_plus - c.raw.k_minus)) < 1e-9
    pngs = {p.name for p in tmp_path.rglob("figures/*.png")}
    for name in ("probe_alpha_histogram", "probe_accuracy_by_difficulty", "influence_matrix", "influence_matrix_cos"):
        assert f"{name}_step000002.png" in pngs
    assert "probe_alpha_histogram_step000001.png" in pngs  # every_n_steps=1
    assert list(tmp_path.rglob("events.out.tfevents*"))
    trainer.validate(module, datamodule=dm, verbose=False)
    assert names <= set(trainer.callback_metrics)


def test_measurements_are_deterministic_and_leave_the_training_rng_alone(tmp_path) -> None:
    dm, module = _setup(verdict=_mixed)
    rollout, influence = RolloutAccuracy(**SMALL), CoInfluence(dim=32, **SMALL)
    trainer = _trainer(tmp_path, [rollout, influence])
    torch.manual_seed(123)
    state = torch.get_rng_state()
    trainer.validate(module, datamodule=dm, verbose=False)
    first = {**rollout.metrics, **influence.metrics}
    assert torch.equal(torch.get_rng_state(), state)
    trainer.validate(module, datamodule=dm, verbose=False)
    second = {**rollout.metrics, **influence.metrics}
    assert first.keys() == second.keys()
    for k in first:
        assert first[k] == pytest.approx(second[k], nan_ok=True), k


def test_rank_chunks_cover_the_probe_once() -> None:
    for world in (1, 2, 3):
        rows = [r for rank in range(world) for _, chunk in rank_chunks(10, 3, rank, world) for r in chunk]
        assert sorted(rows) == list(range(10))
    assert [c for c, _ in rank_chunks(10, 3, 1, 2)] == [1, 3]


@pytest.mark.parametrize("callback_module", [ra_module, co_module])
def test_rank_shares_sum_to_the_single_process_tables(monkeypatch, callback_module) -> None:
    """Each rank fills its own rows; the all-reduce (sum) of two ranks' tables equals one process's table."""
    _, module = _setup(verdict=_mixed)
    make = RolloutAccuracy if callback_module is ra_module else CoInfluence
    extra = {} if callback_module is ra_module else {"dim": 32}
    tables: dict[tuple[int, int], list[torch.Tensor]] = {}

    def record(trainer, tensor):
        tables.setdefault((trainer.global_rank, trainer.world_size), []).append(tensor.clone())
        return tensor

    monkeypatch.setattr(callback_module, "reduce_sum", record)
    for rank, world in ((0, 1), (0, 2), (1, 2)):
        fake = SimpleNamespace(global_rank=rank, world_size=world, is_global_zero=False, global_step=0)
        make(**SMALL, **extra).measure(fake, module)  # type: ignore[arg-type]
    for single, a, b in zip(tables[(0, 1)], tables[(0, 2)], tables[(1, 2)], strict=True):
        assert torch.allclose(a + b, single, atol=1e-6)
        assert (a != 0).any() and (b != 0).any()


def test_report_and_diagnose_write_rl_readiness_with_numbers(tmp_path) -> None:
    dm, module = _setup(verdict=_mixed)
    trainer = _trainer(tmp_path, [RolloutAccuracy(**SMALL), CoInfluence(dim=32, **SMALL), report := RLReadinessReport()])
    trainer.validate(module, datamodule=dm, verbose=False)
    assert report.path is not None and report.path.exists()
    text = report.path.read_text()
    assert "probe/informative_mass" in text and "influence/co_influence" in text and "val/acc_id" in text
    assert "figures/probe_alpha_histogram_step000000.png" in text
    record = json.loads(report.path.with_suffix(".json").read_text())
    assert record["metrics"]["probe/informative_mass"] == pytest.approx(float(trainer.callback_metrics["probe/informative_mass"]))
    assert sum(record["alpha"]) == 6 and len(record["alpha"]) == 5  # 6 probe prompts, alpha levels 0/4 .. 4/4
    result = diagnose(module, dm, tmp_path / "diag", RolloutAccuracy(**SMALL), CoInfluence(dim=32, **SMALL), limit_val_batches=1)
    assert result.report is not None and result.report.read_text().startswith("# RL readiness")
    assert result.rollout is not None and result.rollout.correct.shape == (6, 4)
    assert result.influence is not None and result.influence.raw.matrix.shape == (6, 6)


@pytest.mark.parametrize("kind", ["sparse", "gaussian"])
def test_batched_vmap_and_loop_per_rollout_gradients_agree(kind) -> None:
    from bilight.callbacks.probe import sample_probe
    from bilight.metrics import Projector
    from bilight.rollout import Sampling

    _, module = _setup(verdict=_mixed)
    probe = sample_probe(module, range(2), Sampling(num_samples=3, max_new_tokens=6), seed=0)
    params = dict(module.model.named_parameters())
    projector = Projector.for_parameters(params.values(), 16, seed=0, kind=kind)
    grads = {
        how: CoInfluence(dim=16, kind=kind, num_samples=3, per_sample=how)._prompt_gradients(module, params, projector, probe, 1)
        for how in ("loop", "vmap", "batched", "auto")
    }
    assert grads["loop"].shape == (3, 16)
    for how in ("vmap", "batched", "auto"):
        assert torch.allclose(grads["loop"], grads[how], atol=1e-4, rtol=1e-3), how
    assert not torch.allclose(grads["loop"][0], grads["loop"][1], atol=1e-3)  # the rollouts' gradients differ


@pytest.mark.slow
def test_two_process_ddp_gives_the_single_process_numbers(tmp_path) -> None:
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).with_name("ddp_diagnostics.py")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    results = {}
    for devices in (1, 2):
        out = tmp_path / f"metrics_{devices}.json"
        done = subprocess.run([sys.executable, str(script), str(out), str(devices)], env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        results[devices] = json.loads(out.read_text())
    assert results[1].keys() == results[2].keys()
    assert results[1]["influence/num_pairs"] > 0
    for k, v in results[1].items():
        assert results[2][k] == pytest.approx(v, rel=1e-4, abs=1e-7, nan_ok=True), k


def test_probe_draws_are_shared_between_callbacks_until_the_weights_change(monkeypatch) -> None:
    import bilight.callbacks.probe as probe_module
    from bilight.rollout import Sampling

    _, module = _setup(verdict=_mixed)
    calls = []
    real = probe_module.sample_and_judge
    monkeypatch.setattr(probe_module, "sample_and_judge", lambda *a, **k: calls.append(1) or real(*a, **k))
    sampling = Sampling(num_samples=3, max_new_tokens=6)
    first = probe_module.sample_probe(module, range(2), sampling, seed=1)
    assert probe_module.sample_probe(module, range(2), sampling, seed=1) is first and len(calls) == 1
    probe_module.sample_probe(module, range(2), sampling, seed=2)  # another seed, other rows, other settings: drawn
    probe_module.sample_probe(module, range(1, 2), sampling, seed=1)
    probe_module.sample_probe(module, range(2), sampling.with_(temperature=0.5), seed=1)
    probe_module.sample_probe(module, range(2), sampling, seed=None)
    assert len(calls) == 5
    with torch.no_grad():
        next(module.model.parameters()).mul_(1.0)  # an in-place update (same values): the draw is made again
    again = probe_module.sample_probe(module, range(2), sampling, seed=1)
    assert len(calls) == 6 and again is not first and torch.equal(again.completion_ids, first.completion_ids)
    # Both callbacks at one step: CoInfluence reads RolloutAccuracy's chunks (same seeds and settings), decoding nothing.
    rollout, influence = RolloutAccuracy(**SMALL), CoInfluence(dim=16, **SMALL)
    trainer = SimpleNamespace(global_rank=0, world_size=1, global_step=0, is_global_zero=False)
    rollout.measure(trainer, module)
    drawn = len(calls)
    influence.measure(trainer, module)
    assert len(calls) == drawn and influence.result is not None and influence.result.alpha.shape == (6,)
    assert torch.equal(influence.result.alpha, rollout.result.correct.mean(1))
