import json
import sys
from pathlib import Path

import pytest

from bilight.experiment import runner
from bilight.experiment.runner import STAGES, Experiment, Stage, StageSpec, plan, run, run_stage


def experiment(tmp_path, **kw):
    spec = StageSpec(config="configs/sft/igsm_tiny_{recipe}.yaml", args=("--trainer.max_steps", "3"))
    return Experiment(
        name="t", sft=spec, diagnose=StageSpec("d.yaml"), grpo=StageSpec("g.yaml"), evaluate=StageSpec("e.yaml"),
        recipes=("vanilla", "bridge"), seeds=(0,), extra_seeds={"bridge": (1,)}, results_dir=str(tmp_path / "results"), **kw,
    )  # fmt: skip


def test_plan_names_folders_configs_and_seeds(tmp_path):
    stages = plan(experiment(tmp_path), tmp_path / "out")
    assert [(s.recipe, s.seed) for s in stages[:: len(STAGES)]] == [("vanilla", 0), ("bridge", 0), ("bridge", 1)]
    sft = stages[0]
    assert sft.folder == tmp_path / "out" / "vanilla" / "0" / "sft"
    assert sft.argv[3:6] == ("fit", "--config", "configs/sft/igsm_tiny_vanilla.yaml")
    assert sft.argv[-2:] == ("--trainer.max_steps", "3")
    assert [s.argv[3] for s in stages[:5]] == ["fit", "validate", "fit", "test", "test"]
    runner.write_overlays(tmp_path / "out", "bridge", 1)
    import yaml

    grpo = yaml.safe_load((tmp_path / "out" / "bridge" / "1" / "configs" / "grpo.yaml").read_text())
    assert grpo["seed_everything"] == 1 and grpo["model"]["init_args"]["rollout_seed"] == 1
    for stage in STAGES:  # Lightning refuses a module and a data module whose shared hparam 'seed' differs
        overlay = yaml.safe_load((tmp_path / "out" / "bridge" / "1" / "configs" / f"{stage}.yaml").read_text())
        assert overlay["model"]["init_args"]["seed"] == overlay["data"]["seed"] == 1, stage
    assert grpo["model"]["init_args"]["init_from"].endswith("bridge/1/sft/checkpoints/last.ckpt")
    assert grpo["trainer"]["logger"][0]["init_args"]["version"] == "grpo"


def fake_stage(tmp_path, code, resumable=False):
    folder = tmp_path / "cell" / "stage"
    return Stage("r", 0, "stage", folder, (sys.executable, "-c", code), resumable)


def test_run_stage_marks_done_and_reports_failures(tmp_path):
    stage = fake_stage(tmp_path, "print('hello')")
    run_stage(stage, lambda _: None)
    assert json.loads(stage.done_file.read_text())["command"][-1] == "print('hello')"
    assert "hello" in (tmp_path / "cell" / "stage.log").read_text()
    bad = fake_stage(tmp_path, "raise SystemExit(3)")
    with pytest.raises(RuntimeError, match=r"exit 3.*re-run to resume"):
        run_stage(bad, lambda _: None)


def test_interrupted_stages_resume_or_start_over(tmp_path):
    stage = fake_stage(tmp_path, "print(1)", resumable=True)
    (stage.folder / "checkpoints").mkdir(parents=True)
    assert "--ckpt_path" not in stage.command()  # no last.ckpt yet: a fresh start
    (stage.folder / "checkpoints" / "last.ckpt").write_bytes(b"x")
    assert stage.command()[-2:] == ["--ckpt_path", "last"]
    plain = fake_stage(tmp_path, "print(1)")  # same folder, not resumable: cleared before it runs again
    (plain.folder / "partial.txt").write_text("half")
    run_stage(plain, lambda _: None)
    assert not (plain.folder / "partial.txt").exists()


def fake_outputs(stage: Stage, log) -> float:
    """Stand-in for a stage process: write what each real stage writes that the runner reads."""
    stage.folder.mkdir(parents=True, exist_ok=True)
    bridge = stage.recipe == "bridge"
    if stage.name == "diagnose":
        (stage.folder / "rl_readiness.json").write_text(
            json.dumps({"metrics": {"probe/mean_alpha": 0.3 if bridge else 0.2, "influence/co_influence": 0.1}, "alpha": [1, 2, 3]})
        )
        (stage.folder / "rl_readiness.md").write_text("report")
    if stage.name == "grpo":
        (stage.folder / "metrics.csv").write_text("step,rollout/acc\n1,0.2\n2,0.3\n")
    if stage.name.startswith("eval"):
        right = 3 if stage.name == "eval_grpo" and bridge else 1
        rows = [{"split": "test", "index": i, "greedy": int(i < right), "samples": [int(i < right), 0]} for i in range(4)]
        (stage.folder / "per_problem.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    runner._atomic_json(stage.done_file, {"seconds": 1.0, "command": list(stage.argv)})
    return 1.0


def test_run_skips_finished_work_and_rebuilds_results(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(runner, "run_stage", lambda s, log, threads=None: calls.append(s.label) or fake_outputs(s, log))
    exp = experiment(tmp_path)
    summary = run(exp, tmp_path / "out", log=lambda _: None)
    assert len(calls) == 3 * len(STAGES)
    assert summary["missing"] == []
    assert summary["recipes"]["bridge"]["gain"]["test"]["greedy"]["mean"] == pytest.approx(0.5)
    root = Path(exp.results_dir) / "t"
    assert (root / "bridge" / "1" / "eval_grpo.jsonl").exists() and (root / "results.md").exists()
    first = (root / "results.json").read_text()
    calls.clear()
    run(exp, tmp_path / "out", log=lambda _: None)  # everything finished: nothing runs, same results
    assert calls == []
    assert (root / "results.json").read_text() == first


def test_cells_run_seed_by_seed_and_two_at_once_give_the_same_results(tmp_path, monkeypatch):
    exp = Experiment(
        name="t", sft=StageSpec("s.yaml"), diagnose=StageSpec("d.yaml"), grpo=StageSpec("g.yaml"), evaluate=StageSpec("e.yaml"),
        recipes=("vanilla", "bridge"), seeds=(0, 1), results_dir=str(tmp_path / "one"),
    )  # fmt: skip
    assert runner.cells(exp) == [("vanilla", 0), ("bridge", 0), ("vanilla", 1), ("bridge", 1)]
    seen = []
    monkeypatch.setattr(runner, "run_stage", lambda s, log, threads=None: seen.append(threads) or fake_outputs(s, log))
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(runner.os, "cpu_count", lambda: 4)
    run(exp, tmp_path / "a", log=lambda _: None)
    two = Experiment(**{**exp.__dict__, "results_dir": str(tmp_path / "two")})
    run(two, tmp_path / "b", log=lambda _: None, jobs=2)
    assert seen[0] == {} and seen[-1] == {"OMP_NUM_THREADS": "2"}  # 4 cores shared by 2 cells
    assert (tmp_path / "one" / "t" / "results.json").read_text() == (tmp_path / "two" / "t" / "results.json").read_text()


def test_the_time_left_counts_the_stage_times_of_committed_cells_of_other_recipes(tmp_path):
    exp = experiment(tmp_path)
    root = Path(exp.results_dir) / "t"
    (root / "other" / "0").mkdir(parents=True)  # a recipe this invocation does not run
    (root / "other" / "0" / "timing.json").write_text(json.dumps(dict.fromkeys(STAGES, 60.0)))
    stages = plan(exp, tmp_path / "out")
    stages[0].folder.mkdir(parents=True)
    stages[0].done_file.write_text(json.dumps({"seconds": 120.0}))  # vanilla/0's SFT, finished, cell not committed
    durations = runner._past_durations(stages, root)
    assert durations == {"sft": [60.0, 120.0], **{name: [60.0] for name in STAGES[1:]}}
    left = stages[1:]  # 14 stages: vanilla/0 without its SFT, then bridge/0 and bridge/1 whole
    assert runner._eta(left, durations) == f"~{runner._hms(2 * 90.0 + 12 * 60.0)} left"


def test_a_thread_count_that_oversubscribes_the_cores_is_warned_about(monkeypatch):
    """The runner leaves a caller's OMP_NUM_THREADS alone; two 2-thread cells on 2 cores ran ~10x slower, so it says so."""
    monkeypatch.setattr(runner.os, "cpu_count", lambda: 2)
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    warning = runner.oversubscription(2)
    assert warning is not None and "OMP_NUM_THREADS=2" in warning and "4 threads on 2 cores" in warning and "1 per cell" in warning
    assert runner.oversubscription(1) is None  # one cell at a time may use every core
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert runner.oversubscription(2) is None
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert runner.oversubscription(2) is None  # the runner shares the cores out itself
