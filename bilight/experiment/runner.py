"""The experiment runner: every (recipe, seed) cell through SFT -> diagnosis -> GRPO -> evaluation.

Why subprocesses of the ordinary CLI and not one Python loop: each stage is then exactly a command a user
could type (the runner prints it), runs in a fresh process (no state leaks from one cell into the next),
and resumes the way any bilight run resumes (``--ckpt_path last``). The runner only decides *which*
commands to run, in which folder, and what is already finished:

* every stage writes into its own folder ``<output_dir>/<recipe>/<seed>/<stage>``; a stage is finished when
  its ``done.json`` exists (written after the command exits 0), and a re-run skips it;
* an interrupted training stage resumes from its ``last`` checkpoint; an interrupted evaluation or
  diagnosis stage (minutes, no checkpoint) is cleared and run again;
* a finished cell's small results (``cell.json``, per-problem evaluations, figures; never weights) are
  copied to ``<results_dir>/<experiment>/<recipe>/<seed>/``, so they can be committed, and a cell whose
  results are there is skipped altogether;
* ``results.json``/``results.md`` and the figures are rebuilt from whatever cells exist.

Seeds: a cell's seed sets ``seed_everything``, the data module's seed (injection RNG and shuffle), the
model's initial weights and GRPO's rollout seed; every recipe runs the same seeds with the same budgets.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bilight.system import write_atomically

STAGES = ("sft", "diagnose", "grpo", "eval_sft", "eval_grpo")
RECIPES = ("vanilla", "question_aug", "answer_aug", "explore_only", "exploit_only", "bridge")


@dataclass(frozen=True)
class StageSpec:
    """A stage's base config file and extra command-line arguments (the same for every cell).

    Args:
        config: a stage config (``configs/...yaml``); ``{recipe}`` is replaced by the cell's recipe.
        args: extra arguments, e.g. ``["--trainer.max_steps", "300"]``.
    """

    config: str
    args: Sequence[str] = ()


@dataclass(frozen=True)
class Experiment:
    """What to run: recipes x seeds, and the four stages' configs and budgets.

    Args:
        name: the experiment's name (folder under ``results_dir``).
        sft: SFT stage (``bilight fit``); its config takes ``{recipe}``.
        diagnose: RL-readiness diagnosis of the SFT model (``bilight validate`` with the diagnostic callbacks).
        grpo: GRPO from the SFT model (``bilight fit``).
        evaluate: evaluation of the SFT and the GRPO model on the same test problems (``bilight test``).
        recipes: SFT recipes (injection presets).
        seeds: seeds of every recipe.
        extra_seeds: more seeds for some recipes (e.g. the headline pair vanilla and bridge).
        results_dir: where finished cells' small results are copied (commit it).
    """

    name: str
    sft: StageSpec
    diagnose: StageSpec
    grpo: StageSpec
    evaluate: StageSpec
    recipes: Sequence[str] = RECIPES
    seeds: Sequence[int] = (0, 1, 2)
    extra_seeds: Mapping[str, Sequence[int]] = field(default_factory=dict)
    results_dir: str = "results"

    def seeds_of(self, recipe: str) -> list[int]:
        return [*self.seeds, *(s for s in self.extra_seeds.get(recipe, ()) if s not in self.seeds)]

    def seed_table(self) -> dict[str, list[int]]:
        """Each recipe, in order, with its seeds."""
        return {r: self.seeds_of(r) for r in self.recipes}


@dataclass(frozen=True)
class Stage:
    """One command of one cell, run in ``folder``."""

    recipe: str
    seed: int
    name: str
    folder: Path
    argv: tuple[str, ...]
    resumable: bool

    @property
    def done_file(self) -> Path:
        return self.folder / "done.json"

    @property
    def label(self) -> str:
        return f"{self.recipe}/seed {self.seed}/{self.name}"

    def command(self) -> list[str]:
        """The command to run now: resumable stages continue from their ``last`` checkpoint when one exists."""
        resume = self.resumable and (self.folder / "checkpoints" / "last.ckpt").exists()
        return [*self.argv, *(["--ckpt_path", "last"] if resume else [])]


def _logger_overlay(cell_dir: Path, stage: str) -> list[dict[str, Any]]:
    """Both loggers of a stage write into ``<cell_dir>/<stage>`` (TensorBoard events and ``metrics.csv``)."""
    args = {"save_dir": str(cell_dir), "name": "", "version": stage}
    return [
        {"class_path": "lightning.pytorch.loggers.TensorBoardLogger", "init_args": args},
        {"class_path": "bilight.loggers.ResumableCSVLogger", "init_args": args},
    ]


def stage_overlays(cell_dir: Path, seed: int) -> dict[str, dict[str, Any]]:
    """What each stage of a cell sets on top of its base config: its folder, its seeds, the model it starts from."""
    sft_ckpt = str(cell_dir / "sft" / "checkpoints" / "last.ckpt")
    # ExportHF writes the final weights whatever stopped the run; a run killed after its last checkpoint but before the
    # export is "finished" when resumed (nothing left to train), and then its last checkpoint holds those weights.
    exported = cell_dir / "grpo" / "hf_model"
    grpo_model = str(exported if exported.exists() else cell_dir / "grpo" / "checkpoints" / "last.ckpt")

    def overlay(stage: str, model: dict[str, Any]) -> dict[str, Any]:
        # model and data seeds agree in every stage: Lightning refuses to log hyperparameters that the module and
        # the data module both have with different values (with init_from the model seed builds nothing)
        return {
            "seed_everything": seed,
            "trainer": {"logger": _logger_overlay(cell_dir, stage)},
            "model": {"init_args": {"seed": seed, **model}},
            "data": {"seed": seed},
        }

    return {
        "sft": overlay("sft", {}),
        "diagnose": overlay("diagnose", {"init_from": sft_ckpt}),
        "grpo": overlay("grpo", {"init_from": sft_ckpt, "rollout_seed": seed}),
        "eval_sft": overlay("eval_sft", {"init_from": sft_ckpt}),
        "eval_grpo": overlay("eval_grpo", {"init_from": grpo_model}),
    }


DIAGNOSTIC_KEYS = {
    "probe/mean_alpha": "mean_alpha",
    "probe/informative_mass": "informative_mass",
    "influence/co_influence": "co_influence",
    "influence/delta_j": "delta_j",
}
"""Logged names (`bilight.metrics.names`) of the pre-RL diagnostics a cell keeps, and their short names."""

SUBCOMMANDS = {"sft": "fit", "diagnose": "validate", "grpo": "fit", "eval_sft": "test", "eval_grpo": "test"}


def cells(experiment: Experiment) -> list[tuple[str, int]]:
    """Every ``(recipe, seed)`` cell in run order: seed by seed, each seed through every recipe, so a sweep stopped
    part-way leaves whole seeds of the comparison rather than all seeds of one recipe and none of another."""
    seeds = sorted({s for r in experiment.recipes for s in experiment.seeds_of(r)})
    return [(r, s) for s in seeds for r in experiment.recipes if s in experiment.seeds_of(r)]


def plan(experiment: Experiment, output_dir: Path) -> list[Stage]:
    """Every stage of every cell, in run order (cell by cell, so finished cells accumulate early)."""
    stages = []
    specs = {"sft": experiment.sft, "diagnose": experiment.diagnose, "grpo": experiment.grpo}
    specs |= {"eval_sft": experiment.evaluate, "eval_grpo": experiment.evaluate}
    for recipe, seed in cells(experiment):
        cell_dir = output_dir / recipe / str(seed)
        for name in STAGES:
            spec = specs[name]
            overlay = cell_dir / "configs" / f"{name}.yaml"
            config = spec.config.format(recipe=recipe)
            argv = (sys.executable, "-m", "bilight", SUBCOMMANDS[name], "--config", config, "--config", str(overlay), *spec.args)
            stages.append(Stage(recipe, seed, name, cell_dir / name, argv, resumable=SUBCOMMANDS[name] == "fit"))
    return stages


def write_overlays(output_dir: Path, recipe: str, seed: int) -> None:
    """Write the cell's stage overlays (``<cell>/configs/<stage>.yaml``); rewritten before every stage, so each
    names the outputs of the stages before it as they are on disk."""
    cell_dir = output_dir / recipe / str(seed)
    (cell_dir / "configs").mkdir(parents=True, exist_ok=True)
    for name, overlay in stage_overlays(cell_dir, seed).items():
        path = cell_dir / "configs" / f"{name}.yaml"
        path.write_text(yaml.safe_dump(overlay, sort_keys=False))


def _atomic_json(path: Path, value: Any) -> None:
    write_atomically(path, json.dumps(value, indent=2))


def _prctl() -> Callable[..., int] | None:
    """libc's ``prctl``, looked up in the runner (Linux only): the stage's child process, forked from a runner that
    may run several threads (``--jobs``), must not import or load anything between fork and exec."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    return ctypes.CDLL("libc.so.6", use_errno=True).prctl  # type: ignore[no-any-return]


_PRCTL = _prctl()


def _die_with_parent() -> None:
    """In the stage's process (Linux): end it when the runner dies, so a killed experiment leaves no stage running
    into a folder that the next invocation is about to clear or resume."""
    if _PRCTL is not None:
        _PRCTL(1, 9)  # PR_SET_PDEATHSIG, SIGKILL


def run_stage(stage: Stage, log: Callable[[str], None], threads: Mapping[str, str] | None = None) -> float:
    """Run one stage to completion (resuming or clearing a previous attempt); return its wall time in seconds."""
    if stage.folder.exists() and not (stage.resumable and (stage.folder / "checkpoints" / "last.ckpt").exists()):
        shutil.rmtree(stage.folder)  # an interrupted stage with nothing to resume from starts over
    command = stage.command()
    log(f"[{stage.label}] {shlex.join(command)}")
    start = time.perf_counter()
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **(threads or {})}
    stage.folder.mkdir(parents=True, exist_ok=True)
    with open(stage.folder.parent / f"{stage.name}.log", "a") as out:
        code = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, env=env, preexec_fn=_die_with_parent).returncode
    if code != 0:
        raise RuntimeError(f"{stage.label} failed (exit {code}); see {stage.folder.parent / f'{stage.name}.log'}; re-run to resume")
    elapsed = time.perf_counter() - start
    _atomic_json(stage.done_file, {"seconds": elapsed, "command": command})
    return elapsed


def output(folder: Path, name: str) -> Path:
    """A file a stage wrote: in its folder, or below it (``validate``/``test`` write into ``<run>/eval/<subcommand>-<n>``)."""
    found = sorted(folder.rglob(name))
    if not found:
        raise FileNotFoundError(f"{folder} holds no {name}; re-run the experiment to redo that stage")
    return found[-1]


def _diagnostics(folder: Path) -> dict[str, float]:
    """The pre-RL diagnostics a diagnosis stage wrote (``rl_readiness.json``), by their short names."""
    metrics = json.loads(output(folder, "rl_readiness.json").read_text())["metrics"]
    return {short: float(metrics[key]) for key, short in DIAGNOSTIC_KEYS.items() if key in metrics}


def _reward_curve(folder: Path) -> list[list[float]]:
    """``[step, rollout accuracy]`` rows of a GRPO stage's ``metrics.csv``."""
    import csv

    path = folder / "metrics.csv"
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return [[float(r["step"]), float(r["rollout/acc"])] for r in csv.DictReader(f) if r.get("rollout/acc")]


def collect_cell(output_dir: Path, results: Path, recipe: str, seed: int, timing: Mapping[str, float]) -> dict[str, Any]:
    """Build ``cell.json`` from a finished cell's stage folders and copy the small results to ``results``."""
    from bilight.experiment.cell import cell_record, read_jsonl

    cell_dir = output_dir / recipe / str(seed)
    before = read_jsonl(output(cell_dir / "eval_sft", "per_problem.jsonl"))
    after = read_jsonl(output(cell_dir / "eval_grpo", "per_problem.jsonl"))
    alpha = json.loads(output(cell_dir / "diagnose", "rl_readiness.json").read_text()).get("alpha", [])
    extra = {"reward_curve": _reward_curve(cell_dir / "grpo"), "alpha": alpha}
    record = cell_record(recipe, seed, before, after, _diagnostics(cell_dir / "diagnose"), extra)
    results.mkdir(parents=True, exist_ok=True)
    # wall times apart from cell.json: a resumed run must give the same results.json as an uninterrupted one
    _atomic_json(results / "timing.json", dict(timing))
    for name in ("eval_sft", "eval_grpo"):
        shutil.copyfile(output(cell_dir / name, "per_problem.jsonl"), results / f"{name}.jsonl")
    shutil.copyfile(output(cell_dir / "diagnose", "rl_readiness.md"), results / "rl_readiness.md")
    _atomic_json(results / "cell.json", record)  # last: its presence marks the cell finished
    return record


def _past_durations(stages: Sequence[Stage], results_root: Path) -> dict[str, list[float]]:
    """Stage times measured earlier, which feed the estimate of the time left: every committed cell's
    ``timing.json`` (also of recipes this invocation does not run) and the finished stages of unfinished cells."""
    durations: dict[str, list[float]] = {}
    for path in sorted(results_root.glob("*/*/timing.json")):
        for name, seconds in json.loads(path.read_text()).items():
            durations.setdefault(name, []).append(float(seconds))
    for s in stages:
        if s.done_file.exists() and not (results_root / s.recipe / str(s.seed) / "timing.json").exists():
            durations.setdefault(s.name, []).append(float(json.loads(s.done_file.read_text())["seconds"]))
    return durations


def _eta(remaining: Sequence[Stage], durations: Mapping[str, list[float]], jobs: int = 1) -> str:
    known = [sum(durations[s.name]) / len(durations[s.name]) for s in remaining if durations.get(s.name)]
    unknown = sum(1 for s in remaining if not durations.get(s.name))
    text = _hms(sum(known) / max(1, jobs))
    return f"~{text} left" + (f" + {unknown} stages of a kind not timed yet" if unknown else "")


def _hms(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s"


def _collect_if_finished(experiment: Experiment, output_dir: Path, recipe: str, seed: int, log: Callable[[str], None]) -> None:
    """Collect a cell whose five stages are done and whose results are not in ``results_dir`` yet."""
    cell_dir = output_dir / recipe / str(seed)
    dest = Path(experiment.results_dir) / experiment.name / recipe / str(seed)
    if (dest / "cell.json").exists() or not all((cell_dir / n / "done.json").exists() for n in STAGES):
        return
    timing = {n: float(json.loads((cell_dir / n / "done.json").read_text())["seconds"]) for n in STAGES}
    collect_cell(output_dir, dest, recipe, seed, timing)
    log(f"cell {recipe}/seed {seed} finished: {dest / 'cell.json'}")


def _threads(jobs: int) -> dict[str, str]:
    """Thread settings for each stage when ``jobs`` cells run at once: the cores are shared out (two 2-thread
    processes on 2 cores run many times slower than one each), unless the caller set ``OMP_NUM_THREADS``."""
    if jobs <= 1 or "OMP_NUM_THREADS" in os.environ:
        return {}
    return {"OMP_NUM_THREADS": str(_cores_per_cell(jobs))}


def _cores_per_cell(jobs: int) -> int:
    """The cores each of ``jobs`` cells at once gets (at least one)."""
    return max(1, (os.cpu_count() or 1) // jobs)


def oversubscription(jobs: int) -> str | None:
    """A warning when the caller's ``OMP_NUM_THREADS`` times ``jobs`` cells at once asks for more threads than there are
    cores (the runner then leaves the setting alone, and the stages run many times slower); None otherwise."""
    value, cores = os.environ.get("OMP_NUM_THREADS", ""), os.cpu_count() or 1
    if jobs <= 1 or not value.isdigit() or int(value) * jobs <= cores:
        return None
    return (
        f"warning: OMP_NUM_THREADS={value} in each of {jobs} cells at once asks for {int(value) * jobs} threads on {cores} cores; "
        f"every stage will run many times slower. Unset OMP_NUM_THREADS to share the cores out ({_cores_per_cell(jobs)} per cell)."
    )


def run(experiment: Experiment, output_dir: Path, log: Callable[[str], None] = print, jobs: int = 1) -> dict[str, Any]:
    """Run (or continue) the whole experiment, then rebuild ``results.json``/``results.md`` and the figures.

    ``jobs`` cells run at once (each cell's stages one after the other); the cores are divided between them.
    """
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from bilight.experiment.report import write_results

    results_root = Path(experiment.results_dir) / experiment.name
    stages = plan(experiment, output_dir)
    todo = [s for s in stages if not (results_root / s.recipe / str(s.seed) / "cell.json").exists() and not s.done_file.exists()]
    durations = _past_durations(stages, results_root)
    skipped = len(stages) - len(todo)
    log(f"experiment {experiment.name}: {len(stages)} stages in {len(stages) // len(STAGES)} cells, {skipped} already finished")
    if warning := oversubscription(jobs):
        log(warning)
    by_cell: dict[tuple[str, int], list[Stage]] = {}
    for stage in todo:
        by_cell.setdefault((stage.recipe, stage.seed), []).append(stage)
    lock = threading.Lock()
    pending = list(todo)
    started = skipped
    threads = _threads(jobs)

    def run_cell(cell_stages: list[Stage]) -> None:
        nonlocal started
        for stage in cell_stages:
            with lock:
                started += 1
                log(f"[{started}/{len(stages)}] {stage.label} ({_eta(pending, durations, jobs)})")
                write_overlays(output_dir, stage.recipe, stage.seed)
            seconds = run_stage(stage, log, threads)
            with lock:
                pending.remove(stage)
                durations.setdefault(stage.name, []).append(seconds)
                _collect_if_finished(experiment, output_dir, stage.recipe, stage.seed, log)

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = [pool.submit(run_cell, cell_stages) for cell_stages in by_cell.values()]
        errors = [f.exception() for f in futures]
    failed = [e for e in errors if e is not None]
    if failed:  # as with one job: a failed stage's RuntimeError (the CLI prints it), anything else with its traceback
        raise failed[0]
    for recipe, seed in cells(experiment):  # cells finished by an earlier invocation that stopped before collecting them
        _collect_if_finished(experiment, output_dir, recipe, seed, log)
    return write_results(experiment.name, experiment.seed_table(), results_root, log)
