"""The shipped GRPO step at this checkout against the same config at an earlier commit: same checkpoint, same steps.

The issue's "3x faster than today" compares bilight with itself, so the peer here is a checkout of the
commit the speed work started from (``--baseline``, default d8fe6b4), made with ``git worktree`` in a
temporary folder. Each side runs ``configs/grpo/igsm_tiny_bridge.yaml`` *of its own checkout* (greedy
member, dynamic sampling with one refill, 16 prompts x 8, budget 160) for ``--steps`` steps from the same
SFT checkpoint (``--init_from``, e.g. the quickstart's ``last.ckpt``), without validation, in a fresh
process, the sides alternated ``--repeats`` times. ``--candidate`` times a commit instead of this checkout: the
task generator changed after the baseline (issue 12's parity work: other problems, a 593-word vocabulary instead
of 491), so the baseline cannot load a checkpoint of today's task, and a same-work comparison needs a candidate on
the baseline's task (3effe92, the speed branch before it met the parity work, whose rollout and update code is
today's) and an SFT checkpoint trained by the baseline's own quickstart config. ``--candidate_patch`` applies a patch to
the candidate's checkout first (``patches/3effe92_rollout_and_update_of_a9ce20b.patch`` brings 3effe92's rollout and update
code to main's at a9ce20b; the older patches are those of earlier rounds), and ``--baseline_sft`` trains that SFT
checkpoint in the baseline's checkout (its quickstart config, 1,200 steps, no validation; ~10 min on 2 cores).
`step_clock.StepClock` records every step's wall time and CPU time; the median after the first step is reported, then the median over repeats. The rollout
scalars of every step (completion lengths, refills, kept groups) are compared too, and the script says whether
both sides drew the same rollouts step for step: up to 8e5032e the sampler drew the same tokens as d8fe6b4's
``torch.multinomial``; since then it draws other tokens from the same distribution (inverse CDF), so the two
sides' steps do equal work only on average, and the mean work per timed step of each side is printed beside the
times (completion length, the share of groups with equal rewards, which sets the refill's size, refills, kept
groups). Peak memory is the training process's peak RSS.

    OMP_NUM_THREADS=2 python benchmarks/grpo_vs_commit.py --init_from runs/sft/igsm_tiny_bridge/checkpoints/last.ckpt
    OMP_NUM_THREADS=2 python benchmarks/grpo_vs_commit.py --baseline_sft --candidate 3effe92 \
        --candidate_patch benchmarks/patches/3effe92_rollout_and_update_of_a9ce20b.patch --repeats 3   # same work as d8fe6b4

Last line: ``speedup=<float>`` (baseline seconds per step / this checkout's).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from harness import ROOT, emit, median, run_side, table

HERE = Path(__file__).resolve().parent


def train_side(checkout: Path, init_from: str, steps: int) -> dict[str, Any]:
    """Train ``steps`` steps of ``checkout``'s shipped GRPO config in a child process; its per-step records and peak RSS."""
    with tempfile.TemporaryDirectory() as tmp:
        clock = Path(tmp) / "steps.json"
        callback = json.dumps({"class_path": "step_clock.StepClock", "init_args": {"path": str(clock)}})
        command = [
            sys.executable, "-m", "bilight", "fit", "--config", str(checkout / "configs" / "grpo" / "igsm_tiny_bridge.yaml"),
            f"--model.init_args.init_from={Path(init_from).resolve()}", f"--trainer.max_steps={steps}", "--trainer.max_time=null",
            "--trainer.limit_val_batches=0", "--trainer.num_sanity_val_steps=0", "--trainer.enable_progress_bar=false",
            f"--trainer.callbacks+={callback}",
        ]  # fmt: skip
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(checkout), str(HERE)])}
        proc = subprocess.run(command, cwd=tmp, env=env, capture_output=True, text=True, check=False)
        if proc.returncode != 0 or not clock.exists():
            sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-3000:])
            raise RuntimeError(f"the GRPO run of {checkout} failed with exit code {proc.returncode}")
        records = json.loads(clock.read_text())
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024**2
    return {"steps": records, "child_peak_rss_gb": round(peak, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--init_from", default=str(ROOT / "runs" / "sft" / "igsm_tiny_bridge" / "checkpoints" / "last.ckpt"))
    parser.add_argument("--baseline", default="d8fe6b4", help="the commit to compare against")
    parser.add_argument("--candidate", default=None, help="time this commit instead of the checkout (e.g. one on the baseline's task)")
    parser.add_argument("--candidate_patch", default=None, help="a patch applied to the candidate's checkout (with --candidate)")
    parser.add_argument(
        "--baseline_sft", action="store_true", help="train the baseline's quickstart SFT model and start both sides from it"
    )
    parser.add_argument("--steps", type=int, default=6, help="steps per side (the first is not timed)")
    parser.add_argument("--repeats", type=int, default=2, help="rounds of this checkout then the baseline")
    parser.add_argument("--side", choices=["bilight", "baseline"], help=argparse.SUPPRESS)
    parser.add_argument("--checkout", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        emit(train_side(Path(args.checkout), args.init_from, args.steps))
        return
    if args.candidate_patch and not args.candidate:
        sys.exit("grpo_vs_commit: --candidate_patch needs --candidate (the commit the patch applies to)")
    if args.candidate_patch and not Path(args.candidate_patch).is_file():
        sys.exit(f"grpo_vs_commit: no patch at {args.candidate_patch}")
    if not args.baseline_sft and not Path(args.init_from).exists():
        sys.exit(f"grpo_vs_commit: no checkpoint at {args.init_from}; run the quickstart SFT first, pass --init_from or --baseline_sft")
    with tempfile.TemporaryDirectory() as tmp:
        checkouts = {"baseline": _worktree(Path(tmp) / "baseline", args.baseline)}
        checkouts["bilight"] = _worktree(Path(tmp) / "candidate", args.candidate) if args.candidate else ROOT
        try:
            if args.candidate_patch:
                _apply(checkouts["bilight"], Path(args.candidate_patch))
            if args.baseline_sft:
                args.init_from = _train_sft(checkouts["baseline"])
            results: dict[str, list[dict[str, Any]]] = {"bilight": [], "baseline": []}
            for round_ in range(args.repeats):
                for side in ("bilight", "baseline"):
                    print(f"  round {round_ + 1}/{args.repeats}: {side} ...", file=sys.stderr, flush=True)
                    side_args = ["--checkout", str(checkouts[side]), "--init_from", args.init_from, "--steps", str(args.steps)]
                    results[side].append(run_side(__file__, side, side_args))
        finally:
            for checkout in checkouts.values():
                if checkout != ROOT:
                    subprocess.run(
                        ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(checkout)], capture_output=True, check=False
                    )
    summary = {side: _summary(runs) for side, runs in results.items()}
    rows = [
        [side, f"{s['seconds']:.2f}", f"{s['cpu_seconds']:.2f}", f"{s['completion_len']:.0f}", f"{s['peak']:.2f} GB"]
        for side, s in summary.items()
    ]
    print(table(["side", "s/step (median after the first)", "CPU s/step", "mean completion length", "peak RSS"], rows))
    for side, runs in results.items():
        per_round = ", ".join(f"{median([step['seconds'] for step in run['steps'][1:]]):.2f}" for run in runs)
        print(f"{side} s/step by round: {per_round}")
    same = [_work(r) for r in results["bilight"]] == [_work(r) for r in results["baseline"]]
    print(f"same rollouts step for step (completion lengths, refills, kept groups): {'yes' if same else 'no'}")
    for side, runs in results.items():  # the work behind a step, when the two sides sample different tokens
        steps = [step for run in runs for step in run["steps"][1:]]
        mean = {k: statistics.mean(step.get(f"rollout/{k}", float("nan")) for step in steps) for k in WORK}
        print(f"{side} work per timed step (mean of {len(steps)}): " + ", ".join(f"{k} {v:.3f}" for k, v in mean.items()))
    name = args.candidate or "this checkout"
    if args.candidate_patch:
        name += f" + {Path(args.candidate_patch).name}"
    print(f"{name} vs {args.baseline}: {summary['baseline']['seconds'] / summary['bilight']['seconds']:.2f}x per step (wall), "
          f"{summary['baseline']['cpu_seconds'] / summary['bilight']['cpu_seconds']:.2f}x (CPU)")  # fmt: skip
    print(f"speedup={summary['baseline']['seconds'] / summary['bilight']['seconds']:.3f}")


def _worktree(path: Path, commit: str) -> Path:
    """A detached checkout of ``commit`` at ``path`` (``git worktree``); exits with a message if that is impossible."""
    made = subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(path), commit], capture_output=True, text=True)
    if made.returncode != 0:
        sys.exit(f"grpo_vs_commit: cannot check out {commit} (a git clone is needed): {made.stderr.strip()}")
    return path


def _apply(checkout: Path, patch: Path) -> None:
    """Apply ``patch`` to ``checkout``'s files; exits with git's message if it does not apply."""
    applied = subprocess.run(["git", "-C", str(checkout), "apply", str(patch.resolve())], capture_output=True, text=True)
    if applied.returncode != 0:
        sys.exit(f"grpo_vs_commit: {patch} does not apply to the candidate: {applied.stderr.strip()}")


def _train_sft(checkout: Path) -> str:
    """Train ``checkout``'s quickstart SFT config there (no validation); the path of its ``last.ckpt``."""
    print(f"  training the quickstart SFT model of {checkout.name} (its own config, no validation) ...", file=sys.stderr, flush=True)
    command = [
        sys.executable, "-m", "bilight", "fit", "--config", "configs/sft/igsm_tiny_bridge.yaml", "--trainer.limit_val_batches=0",
        "--trainer.num_sanity_val_steps=0", "--trainer.enable_progress_bar=false",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    proc = subprocess.run(command, cwd=checkout, env=env, capture_output=True, text=True, check=False)
    found = sorted(checkout.glob("runs/sft/*/checkpoints/last.ckpt"))
    if proc.returncode != 0 or not found:
        sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-3000:])
        sys.exit(f"grpo_vs_commit: the SFT run of {checkout.name} failed with exit code {proc.returncode}")
    return str(found[0])


def _summary(runs: list[dict[str, Any]]) -> dict[str, float]:
    def per_run(key: str) -> float:
        return median([median([step[key] for step in run["steps"][1:]]) for run in runs])

    length = median([median([step.get("rollout/completion_len_mean", 0.0) for step in run["steps"][1:]]) for run in runs])
    return {
        "seconds": per_run("seconds"),
        "cpu_seconds": per_run("cpu_seconds"),
        "completion_len": length,
        "peak": max(r["child_peak_rss_gb"] for r in runs),
    }


def _work(run: dict[str, Any]) -> list[tuple[float, ...]]:
    keys = ("rollout/completion_len_mean", "rollout/refills", "rollout/kept_groups")
    return [tuple(round(step.get(k, float("nan")), 4) for k in keys) for step in run["steps"]]


# What sets a step's work: the completions' length, and the share of groups with equal rewards (the refill's size).
WORK = ("completion_len_mean", "frac_zero_std", "refills", "kept_groups")


if __name__ == "__main__":
    main()
