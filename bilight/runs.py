"""A run owns its folder: a new ``fit`` never writes into a folder that holds another run.

The shipped configs name their run folder through the loggers (``save_dir/name/version``, e.g.
``runs/sft/igsm_tiny_bridge``), so that ``--ckpt_path last`` finds the run again. Naming a folder
must not mean sharing it, so before anything is built `plan_run` decides, from the files on disk:

* ``fit`` (fresh): the named folder if it holds no run yet, else the next free versioned folder
  ``<name>-v1``, ``<name>-v2``, ... (printed: "runs/sft/x holds an earlier run; this run writes
  to runs/sft/x-v1"). ``--reuse_run_dir true`` writes into the named folder anyway.
* ``fit --ckpt_path last``: the *newest* run of that name (the highest ``-vN`` folder holding a
  run, the plain name being ``-v0``), from its newest checkpoint (``checkpoints/last*.ckpt`` or a SLURM
  ``hpc_ckpt_*.ckpt``). If that folder has no checkpoint yet (a run killed before its first save),
  a fresh run starts in a new folder, so setting ``--ckpt_path last`` on every (re)start is safe.
  A run that already reached ``trainer.max_steps`` is not touched ("nothing to train").
* ``fit --ckpt_path FILE``: resumes in the folder holding FILE when it is one of that name's
  folders; a checkpoint from elsewhere starts a fresh run (in a fresh folder).
* ``validate``/``test``/``predict``: every logger, ``config.yaml`` and ``summary.json`` go to
  ``<run>/eval/<subcommand>-<n>/`` beside the checkpoint they evaluate (``<run>`` is the folder
  holding ``checkpoints/``), so the run's training ``metrics.csv``, ``config.yaml``,
  ``summary.json`` and ``hf_model`` are never touched. Without a checkpoint, ``<run>`` is the
  configured folder.

``trainer.default_root_dir`` follows the run folder, so SLURM's preemption checkpoints land in it.
Under DDP the ranks Lightning launches from rank 0 take its decision from ``BILIGHT_RUN_PLAN``
(only when they are its children running its command, so a stale value is ignored); ranks started
by ``srun``/``torchrun`` decide for themselves, harmlessly: only rank 0 writes logs, and Lightning
broadcasts rank 0's checkpoint folder.
"""

from __future__ import annotations

import json
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jsonargparse import Namespace

from bilight.checkpoint import read_checkpoint
from bilight.errors import ConfigError

PLAN_ENV = "BILIGHT_RUN_PLAN"
RUN_FILES = ("checkpoints", "metrics.csv", "summary.json", "hf_model", "hparams.yaml")
RUN_GLOBS = ("events.out.tfevents.*", "hpc_ckpt_*.ckpt")
SPECIAL_CKPTS = ("last", "best", "hpc", "registry")


@dataclass(frozen=True)
class RunPlan:
    """Where a command writes, which checkpoint it loads, and what to tell the user."""

    folder: Path | None
    ckpt_path: str | None
    message: str = ""
    finished: bool = False


def holds_run(folder: Path) -> bool:
    """True if ``folder`` holds another run's checkpoints, logs or exported model (a bare ``config.yaml`` does not count)."""
    if not folder.is_dir():
        return False
    return any((folder / name).exists() for name in RUN_FILES) or any(next(folder.glob(g), None) for g in RUN_GLOBS)


def versions(base: Path) -> dict[int, Path]:
    """Existing folders of ``base``'s name by version: 0 for ``base`` itself, n for ``base-vn``."""
    found = {0: base} if base.exists() else {}
    pattern = re.compile(rf"^{re.escape(base.name)}-v(\d+)$")
    if base.parent.is_dir():
        for entry in base.parent.iterdir():
            m = pattern.match(entry.name)
            if m and entry.is_dir():
                found[int(m.group(1))] = entry
    return found


def versioned(base: Path, n: int) -> Path:
    return base if n == 0 else base.with_name(f"{base.name}-v{n}")


def newest_checkpoint(folder: Path) -> Path | None:
    """The most recently written ``checkpoints/last*.ckpt`` or ``hpc_ckpt_*.ckpt`` of a run folder."""
    found = [*folder.glob("checkpoints/last*.ckpt"), *folder.glob("hpc_ckpt_*.ckpt")]
    return max(found, key=lambda p: p.stat().st_mtime) if found else None


def run_of_checkpoint(ckpt: Path) -> Path:
    """The run folder a checkpoint belongs to: the parent of ``checkpoints/``, else its own folder."""
    return ckpt.parent.parent if ckpt.parent.name == "checkpoints" else ckpt.parent


def plan_fit(base: Path, ckpt_path: str | None, reuse: bool, max_steps: int | None) -> RunPlan:
    """The folder and checkpoint of a ``fit`` whose config names ``base`` (see the module docstring)."""
    holding = {n: f for n, f in versions(base).items() if holds_run(f)}  # an empty folder (another rank's mkdir) is free
    newest = max(holding, default=0)
    if reuse:
        return RunPlan(base, ckpt_path, f"{base}: reusing the folder (--reuse_run_dir true); its earlier files may be overwritten")
    if ckpt_path == "last":
        ckpt = newest_checkpoint(holding[newest]) if holding else None
        if ckpt is not None:
            return _resume(holding[newest], ckpt, max_steps)
        ckpt_path = None  # nothing to resume: a fresh run (Lightning would only warn)
    elif ckpt_path is not None and ckpt_path not in SPECIAL_CKPTS:
        owner = run_of_checkpoint(Path(ckpt_path)).resolve()
        for folder in holding.values():
            if folder.resolve() == owner:
                return _resume(folder, Path(ckpt_path), max_steps)
    if not holding:
        return RunPlan(base, ckpt_path, "")
    folder = versioned(base, newest + 1)
    return RunPlan(folder, ckpt_path, f"{base} holds an earlier run; this run writes to {folder}")


def _resume(folder: Path, ckpt: Path, max_steps: int | None) -> RunPlan:
    step = int(read_checkpoint(str(ckpt), "--ckpt_path").get("global_step", 0))
    if max_steps is not None and max_steps > 0 and step >= max_steps:
        message = (
            f"{folder} already finished: {ckpt} is at step {step} (trainer.max_steps {max_steps}); nothing to train. "
            "Raise --trainer.max_steps to train longer, or drop --ckpt_path to start a new run."
        )
        return RunPlan(folder, str(ckpt), message, finished=True)
    return RunPlan(folder, str(ckpt), f"resuming {folder} from {ckpt} (step {step})")


def plan_eval(subcommand: str, base: Path, ckpt_path: str | None) -> RunPlan:
    """``<run>/eval/<subcommand>-<n>`` for the checkpoint evaluated (``last``: the newest run of ``base``'s name)."""
    if ckpt_path == "last":
        holding = {n: f for n, f in versions(base).items() if holds_run(f)}
        found = newest_checkpoint(holding[max(holding)]) if holding else None
        if found is None:
            raise ConfigError("--ckpt_path", "last", f"no checkpoint found under {base}", "train first or pass a .ckpt file")
        ckpt_path = str(found)
    run = run_of_checkpoint(Path(ckpt_path)) if ckpt_path not in (None, "best", "hpc", "registry") else base
    evals = run / "eval"
    n = 0
    while (evals / f"{subcommand}-{n}").exists():
        n += 1
    folder = evals / f"{subcommand}-{n}"
    return RunPlan(folder, ckpt_path, f"{subcommand} writes to {folder} (the run's own files stay as they are)")


# ---------------------------------------------------------------------- the parsed config
def _logger_specs(trainer: Namespace) -> list[Namespace]:
    loggers = trainer.get("logger")
    if isinstance(loggers, Namespace):
        loggers = [loggers]
    if not isinstance(loggers, list):
        return []
    return [s for s in loggers if isinstance(s, Namespace) and isinstance(s.get("init_args"), Namespace) and "save_dir" in s.init_args]


def _folder(spec: Namespace) -> Path | None:
    args = spec.init_args
    if not isinstance(args.get("version"), str) or args.get("save_dir") is None:
        return None
    return Path(str(args.save_dir), str(args.get("name") or ""), args.version)


def _is_rank_zero() -> bool:
    return all(os.environ.get(k, "0") == "0" for k in ("RANK", "LOCAL_RANK", "NODE_RANK", "SLURM_PROCID"))


def plan_run(subcommand: str, config: Namespace) -> RunPlan:
    """Decide and apply (to ``config``: loggers, ``default_root_dir``, ``ckpt_path``) where this command writes."""
    trainer = config.trainer
    specs = _logger_specs(trainer)
    named = [f for f in map(_folder, specs) if f is not None]
    base = named[0] if named else Path(str(trainer.get("default_root_dir") or "."))
    ckpt_path = config.get("ckpt_path")
    ckpt_path = None if ckpt_path is None else str(ckpt_path)
    if ckpt_path is not None and ckpt_path not in SPECIAL_CKPTS and not Path(ckpt_path).is_file():
        raise ConfigError("--ckpt_path", ckpt_path, "is not a file", "pass a .ckpt written by bilight, or `last` to resume the newest run")
    saved = json.loads(os.environ.get(PLAN_ENV) or "{}")
    if saved.get("pid") == os.getppid() and saved.get("argv") == sys.argv[1:] and not _is_rank_zero():
        plan = RunPlan(Path(saved["folder"]), saved["ckpt_path"])  # a DDP rank launched by rank 0 with its command: its decision
    elif subcommand == "fit":
        if not named and trainer.get("logger") is not False:
            return RunPlan(None, ckpt_path)  # unnamed loggers version their folders themselves (version_0, version_1, ...)
        max_steps = trainer.get("max_steps")
        plan = plan_fit(base, ckpt_path, bool(config.get("reuse_run_dir")), max_steps if isinstance(max_steps, int) else None)
    else:
        plan = plan_eval(subcommand, base, ckpt_path)
    _apply(plan, subcommand, trainer, specs, base)
    config.ckpt_path = plan.ckpt_path
    if _is_rank_zero():
        shared = {"folder": str(plan.folder), "ckpt_path": plan.ckpt_path, "pid": os.getpid(), "argv": sys.argv[1:]}
        os.environ[PLAN_ENV] = json.dumps(shared)
        if plan.message:
            print(f"bilight: {plan.message}", file=sys.stderr, flush=True)
    return plan


def _apply(plan: RunPlan, subcommand: str, trainer: Namespace, specs: list[Namespace], base: Path) -> None:
    assert plan.folder is not None
    try:
        if _is_rank_zero():
            plan.folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ConfigError(
            "trainer.logger.init_args.save_dir", str(base), f"cannot create the run folder {plan.folder} ({err.strerror})",
            "choose a folder you can write to",
        ) from err  # fmt: skip
    trainer.default_root_dir = str(plan.folder)
    for spec in specs:
        args: Any = spec.init_args
        if subcommand == "fit":
            if isinstance(args.get("version"), str):
                suffix = plan.folder.name[len(base.name) :] if plan.folder.name.startswith(base.name) else ""
                args.version = args.version + suffix
        else:
            args.save_dir, args.name, args.version = str(plan.folder.parent), "", plan.folder.name
