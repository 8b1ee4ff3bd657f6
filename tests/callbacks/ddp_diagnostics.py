"""Run the diagnostics on the tiny model under 2-process DDP (gloo, CPU) or one process; rank 0 writes the metrics as JSON.

Usage: python tests/callbacks/ddp_diagnostics.py OUT.json DEVICES (launched by test_diagnostics.py).
"""

import json
import sys
from datetime import timedelta

import lightning as L
from lightning.pytorch.strategies import DDPStrategy

from bilight.callbacks import CoInfluence, RolloutAccuracy
from bilight.modules import SFTModule
from bilight.testing import TINY_MODEL, StandInJudge, tiny_datamodule

SMALL = {"num_prompts": 6, "num_samples": 4, "chunk_size": 2, "max_new_tokens": 8}


def main(out: str, devices: int) -> None:
    dm = tiny_datamodule(num_probe=6)
    judge = StandInJudge(dm.judge, lambda index, text: (len(text) + index) % 3 == 0)
    module = SFTModule(tokenizer=dm.tokenizer, judge=judge, max_new_tokens=8, **TINY_MODEL)
    rollout, influence = RolloutAccuracy(**SMALL), CoInfluence(dim=32, **SMALL)
    strategy = DDPStrategy(process_group_backend="gloo", timeout=timedelta(seconds=120)) if devices > 1 else "auto"
    trainer = L.Trainer(
        accelerator="cpu", devices=devices, strategy=strategy, logger=False, callbacks=[rollout, influence],
        enable_progress_bar=False, enable_model_summary=False, limit_val_batches=1, default_root_dir=out + ".d",
    )  # fmt: skip
    trainer.validate(module, datamodule=dm, verbose=False)
    if trainer.is_global_zero:
        with open(out, "w") as f:
            json.dump({**rollout.metrics, **influence.metrics}, f)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
