"""The README's commands, run in the README's order on a tiny config, leave every earlier result intact.

Every ``bilight ...`` / ``python -m bilight ...`` line of the README's bash blocks runs as a real
process in a scratch folder (cluster launchers and ``--help`` excluded), with
``tests/robustness/tiny.yaml`` composed last (not after the smoke fragment, which is tiny
already, nor on help lines) so each run takes seconds. Before each command the
test fingerprints every file a run keeps (``metrics.csv``, ``config.yaml``, ``summary.json``,
``hparams.yaml``, checkpoints, ``hf_model`` weights); after it, every earlier fingerprint must be
unchanged: commands add folders, they never rewrite another run's files.
"""

from __future__ import annotations

import hashlib
import shlex
from pathlib import Path

import pytest

from tests.robustness.helpers import ROOT, TINY, run_process, scratch

pytestmark = pytest.mark.slow
KEPT = ("metrics.csv", "config.yaml", "summary.json", "hparams.yaml", "*.ckpt", "model.safetensors")
SKIP = ("--help", "configs/cluster/", "torchrun", "sbatch")


def readme_commands() -> list[list[str]]:
    """``bilight`` argument lists of the README's bash blocks, in order (continuation lines joined, comments dropped)."""
    commands, in_bash, pending = [], False, ""
    for line in (ROOT / "README.md").read_text().splitlines():
        if line.startswith("```"):
            in_bash = line.strip() == "```bash"
            continue
        if not in_bash:
            continue
        text = pending + line.split(" #")[0].strip()
        if text.endswith("\\"):
            pending = text[:-1] + " "
            continue
        pending = ""
        words = shlex.split(text)
        for prefix in (["bilight"], ["python", "-m", "bilight"]):
            if words[: len(prefix)] == prefix and not any(s in text for s in SKIP):
                commands.append(words[len(prefix) :])
    return commands


def fingerprints(folder: Path) -> dict[str, str]:
    runs = folder / "runs"
    files = [p for pattern in KEPT for p in runs.rglob(pattern)] if runs.exists() else []
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files if p.parent != runs}


def test_readme_commands_in_order_never_rewrite_an_earlier_result(tmp_path: Path) -> None:
    folder = scratch(tmp_path)
    commands = [["fit", "--config", "configs/sft/igsm_tiny_bridge.yaml"], *readme_commands()]  # make quickstart first
    assert len(commands) >= 10 and ["fit", "--config", "configs/sft/igsm_tiny_vanilla.yaml"] in commands
    seen: dict[str, str] = {}
    for args in commands:
        tiny = ["--config", TINY] if "--config" in args and "configs/debug/smoke.yaml" not in args else []  # smoke is tiny already
        result = run_process(folder, *args, *tiny)
        assert result.returncode == 0, f"{shlex.join(args)}\n{result.stderr[-3000:]}"
        now = fingerprints(folder)
        changed = [path for path, digest in seen.items() if now.get(path) != digest]
        assert not changed, f"`bilight {shlex.join(args)}` rewrote {changed}"
        seen.update(now)
    runs = folder / "runs"
    bridge, vanilla = runs / "sft" / "igsm_tiny_bridge", runs / "sft" / "igsm_tiny_vanilla"
    assert len((bridge / "metrics.csv").read_text().splitlines()) > 4  # the quickstart's training history is still there
    assert (bridge.with_name("igsm_tiny_bridge-v1") / "hf_model" / "model.safetensors").exists()  # the second fit got its own folder
    assert (vanilla / "hf_model" / "model.safetensors").exists()
    assert sorted(p.name for p in (bridge / "eval").iterdir()) == ["test-0", "validate-0", "validate-1"]
    assert (runs / "grpo" / "igsm_tiny_bridge" / "hf_model" / "model.safetensors").exists()
    assert not list(bridge.glob("checkpoints/last-v*.ckpt"))  # never a second run's checkpoint beside the first's
