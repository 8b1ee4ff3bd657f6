"""The cluster files wire what they promise: SLURM requeue and atomic IO from YAML, a valid sbatch script."""

import subprocess
from pathlib import Path

from lightning.pytorch.plugins.environments import SLURMEnvironment

from bilight.checkpoint import AtomicCheckpointIO
from bilight.cli import TRAINER_DEFAULTS, BilightCLI
from bilight.data import BilightDataModule
from bilight.modules.common import LMModule
from tests.resume.runs import BASE, ROOT, SFT_TINY


def test_slurm_fragment_selects_auto_requeue_and_atomic_checkpoints(tmp_path: Path) -> None:
    args = ["--config", str(BASE), "--config", str(SFT_TINY), "--config", str(ROOT / "configs" / "cluster" / "slurm.yaml"),
            "--trainer.accelerator=cpu", "--trainer.devices=1", "--trainer.num_nodes=1", "--trainer.strategy=auto",
            f"--trainer.default_root_dir={tmp_path}"]  # fmt: skip
    cli = BilightCLI(LMModule, BilightDataModule, subclass_mode_model=True, trainer_defaults=TRAINER_DEFAULTS, args=args, run=False)
    environment = cli.trainer._accelerator_connector.cluster_environment
    assert isinstance(environment, SLURMEnvironment) and environment.auto_requeue
    assert isinstance(cli.trainer.strategy.checkpoint_io, AtomicCheckpointIO)


def test_sbatch_script_is_valid_bash_with_the_preemption_signal() -> None:
    script = ROOT / "scripts" / "slurm" / "train.sbatch"
    assert subprocess.run(["bash", "-n", str(script)], capture_output=True).returncode == 0
    text = script.read_text()
    assert "#SBATCH --signal=SIGUSR1@90" in text and "configs/cluster/slurm.yaml" in text and "srun" in text
