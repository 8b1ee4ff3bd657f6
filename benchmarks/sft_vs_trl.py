"""SFT step time of bilight's `SFTModule` against TRL's `SFTTrainer`, same rows, same model, same batch, plus bilight's MFU.

Both sides train the quickstart model shape from scratch (Llama-style, hidden 128, 4 layers, 2 heads,
seed 0, the task tokenizer) on the same rows: the BRIDGE-injected solutions of 1-3-operation iGSM
problems of configs/sft/igsm_tiny_bridge.yaml (prompt-completion pairs, loss on the completion and
its EOS), batch 32, AdamW lr 2e-3, betas (0.9, 0.95), gradient norm clipped to 1, float32, the same
number of threads. Each side runs ``--steps`` steps in its own process (`harness`), sides alternated
``--repeats`` times; the step time is the median after the first ``--skip`` steps (wall time between
Lightning's ``on_train_batch_start``/``end``, the HF Trainer's ``on_step_begin``/``end``).

Model FLOP utilisation (bilight): ``(6 N + 12 L H S) * tokens / step time`` over the machine's fp32
matmul rate measured in the same process (best of a few 1024 x 1024 products), with N the parameters
in matrix products (the tied embedding counted once, as the LM head), L layers, H hidden size, S the
padded sequence length and tokens the non-padding tokens of the batch.

    OMP_NUM_THREADS=2 python benchmarks/sft_vs_trl.py

Needs the ``bench`` extra (TRL). Last line: ``speedup=<float>`` (TRL seconds per step / bilight's).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from typing import Any

import torch
from harness import ROOT, alternate, emit, median, side_by_side_parser, table, trl_step_clock

CONFIG = ROOT / "configs" / "sft" / "igsm_tiny_bridge.yaml"
BATCH = 32


def sft_cli(root: str, steps: int) -> Any:
    from bilight.cli import TRAINER_DEFAULTS, BilightCLI
    from bilight.data import BilightDataModule
    from bilight.modules.common import LMModule

    args = [
        "--config", str(CONFIG), f"--trainer.max_steps={steps}", "--trainer.limit_val_batches=0", "--trainer.num_sanity_val_steps=0",
        f"--trainer.default_root_dir={root}", "--trainer.enable_progress_bar=false", "--trainer.logger=false",
        "--trainer.enable_checkpointing=false", "--trainer.callbacks=[]", "--data.num_train=4000", "--data.num_val=16",
        f"--data.batch_size={BATCH}",
    ]  # fmt: skip
    return BilightCLI(
        model_class=LMModule, subclass_mode_model=True, datamodule_class=BilightDataModule,
        trainer_defaults=TRAINER_DEFAULTS, args=args, run=False,
    )  # fmt: skip


def matmul_peak() -> float:
    """Best fp32 matmul rate (FLOP/s) of this process over a few 1024 x 1024 products."""
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    best = 0.0
    for _ in range(10):
        start = time.perf_counter()
        for _ in range(4):
            torch.mm(a, b)
        best = max(best, 4 * 2 * 1024**3 / (time.perf_counter() - start))
    return best


def run_bilight(steps: int) -> dict[str, Any]:
    import lightning as L

    class Clock(L.Callback):
        def __init__(self) -> None:
            self.seconds: list[float] = []
            self.flops: list[float] = []
            self.start = 0.0

        def on_train_batch_start(self, trainer: L.Trainer, module: L.LightningModule, batch: Any, batch_idx: int) -> None:
            config = module.model.config  # type: ignore[attr-defined]
            matrix_params = sum(p.numel() for n, p in module.named_parameters() if p.dim() == 2)
            tokens, width = float(batch["attention_mask"].sum()), batch["input_ids"].shape[1]
            self.flops.append((6 * matrix_params + 12 * config.num_hidden_layers * config.hidden_size * width) * tokens)
            self.start = time.perf_counter()

        def on_train_batch_end(self, *args: Any) -> None:
            self.seconds.append(time.perf_counter() - self.start)

    with tempfile.TemporaryDirectory() as root:
        cli = sft_cli(root, steps)
        clock = Clock()
        cli.trainer.callbacks.append(clock)
        cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    return {"seconds": clock.seconds, "flops": clock.flops, "peak": matmul_peak()}


def run_trl(steps: int) -> dict[str, Any]:
    from trl import SFTConfig, SFTTrainer

    from bilight.modules.common import build_model

    with tempfile.TemporaryDirectory() as root:
        dm = sft_cli(root, steps).datamodule  # the same rows and tokenizer
        dm.prepare_data()
        dm.setup("fit")
        dataset = dm.datasets["train"].select_columns(["prompt", "completion"])
        model = build_model(dm.tokenizer, hidden_size=128, num_layers=4, num_heads=2, seed=0)
        config = SFTConfig(
            output_dir=root, max_steps=steps, per_device_train_batch_size=BATCH, learning_rate=2e-3, adam_beta1=0.9,
            adam_beta2=0.95, weight_decay=0.0, lr_scheduler_type="constant", max_grad_norm=1.0, max_length=dm.max_length,
            completion_only_loss=True, use_cpu=True, bf16=False, fp16=False, report_to="none", logging_steps=10,
            save_strategy="no", seed=0, dataloader_num_workers=0,
        )  # fmt: skip
        clock = trl_step_clock()
        trainer = SFTTrainer(model=model, args=config, train_dataset=dataset, processing_class=dm.tokenizer, callbacks=[clock])
        trainer.train()
    return {"seconds": clock.seconds}


def main() -> None:
    parser = side_by_side_parser(__doc__, "trl", sizes=False)
    parser.add_argument("--steps", type=int, default=40, help="steps per side and repeat")
    parser.add_argument("--skip", type=int, default=5, help="first steps not counted")
    args = parser.parse_args()
    if args.side is not None:
        emit(run_bilight(args.steps) if args.side == "bilight" else run_trl(args.steps))
        return
    print(f"SFT batch {BATCH}, quickstart model from scratch, threads {torch.get_num_threads()}, {args.steps} steps x {args.repeats}")
    results = alternate(__file__, ["bilight", "trl"], ["--steps", str(args.steps)], args.repeats)
    step = {side: median([statistics.median(r["seconds"][args.skip :]) for r in runs]) for side, runs in results.items()}
    runs = results["bilight"]
    mfu = median(
        [
            statistics.median(f / s for f, s in zip(r["flops"][args.skip :], r["seconds"][args.skip :], strict=True)) / r["peak"]
            for r in runs
        ]
    )
    peak = median([r["peak"] for r in runs])
    rss = {side: max(r["peak_rss_gb"] for r in runs) for side, runs in results.items()}
    rows = [
        ["bilight SFTModule", f"{step['bilight']:.3f}", f"{100 * mfu:.1f}% of {peak / 1e9:.0f} GFLOP/s", f"{rss['bilight']:.2f}"],
        ["TRL SFTTrainer", f"{step['trl']:.3f}", "", f"{rss['trl']:.2f}"],
        ["ratio", f"{step['trl'] / step['bilight']:.2f}x", "", ""],
    ]
    print(table(["side", "s/step", "MFU (fp32 matmul peak)", "peak RSS GB"], rows))
    print(f"speedup={step['trl'] / step['bilight']:.2f}")


if __name__ == "__main__":
    main()
