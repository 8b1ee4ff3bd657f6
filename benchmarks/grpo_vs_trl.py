"""A GRPO step of bilight's `GRPOModule` against TRL's `GRPOTrainer` on the same model, prompts and settings.

Plain GRPO on both sides (no greedy member, no dynamic sampling): 16 prompts x 8 completions of
1-3-operation iGSM problems from the ``rl`` split of the shipped GRPO config, budget 160 tokens,
temperature 1, dapo loss, beta 0, one update per batch, AdamW, gradient norm clipped to 1, reward =
verifier correctness, float32, the same number of threads. Two model sizes: the quickstart SFT model
(``--model``, a ``save_pretrained`` folder, ~1M parameters) and a ~10M-parameter Llama-style model
(hidden 288, 8 layers, 4 heads) built from seed 0 with the same tokenizer, whose completions end at
random (EOS about once in 80 tokens), so both sides generate similar lengths.

Each side runs ``--steps`` steps in its own process (`harness`), sides alternated ``--repeats``
times. Step time is the wall time of a whole training step (generation, scoring, update, optimizer
step): between Lightning's ``on_train_batch_start``/``on_train_batch_end`` for bilight, between the
HF Trainer's ``on_step_begin``/``on_step_end`` for TRL; the median after the first step is reported,
then the median over repeats. Generated tokens per second = completion tokens of the step (EOS
included) / step time. Peak memory is each side's process peak RSS.

    OMP_NUM_THREADS=2 python benchmarks/grpo_vs_trl.py --model runs/sft/igsm_tiny_bridge/hf_model

Needs the ``bench`` extra (``pip install -e ".[bench]"``: TRL). Last line: ``speedup=<float>``, the
smaller of the two sizes' step-time ratios (TRL seconds / bilight seconds).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from harness import alternate, build_large, emit, grpo_cli, median, side_by_side_parser, table, trl_step_clock

PROMPTS, GENERATIONS, BUDGET = 16, 8, 160


def run_bilight(model_dir: str, steps: int) -> dict[str, Any]:
    import lightning as L

    class Clock(L.Callback):
        def __init__(self) -> None:
            self.seconds: list[float] = []
            self.tokens: list[float] = []
            self.start = 0.0

        def on_train_batch_start(self, *args: Any) -> None:
            self.start = time.perf_counter()

        def on_train_batch_end(self, trainer: L.Trainer, *args: Any) -> None:
            self.seconds.append(time.perf_counter() - self.start)
            self.tokens.append(float(trainer.callback_metrics["rollout/completion_len_mean"]) * PROMPTS * GENERATIONS)

    with tempfile.TemporaryDirectory() as root:
        cli = grpo_cli(model_dir, root, f"--trainer.max_steps={steps}")
        clock = Clock()
        cli.trainer.callbacks.append(clock)
        cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    return {"seconds": clock.seconds, "tokens": clock.tokens}


def run_trl(model_dir: str, steps: int) -> dict[str, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer

    with tempfile.TemporaryDirectory() as root:
        dm = grpo_cli(model_dir, root).datamodule  # the same rl split and verifier
        dm.prepare_data()
        dm.setup("fit")
        dataset = dm.prompts("rl").select_columns(["prompt", "index"])

        def correctness(completions: list[str], index: list[int], **kwargs: Any) -> list[float]:
            return [float(dm.verify("rl", int(i), c).correct) for c, i in zip(completions, index, strict=True)]

        config = GRPOConfig(
            output_dir=root, max_steps=steps, per_device_train_batch_size=PROMPTS * GENERATIONS, num_generations=GENERATIONS,
            max_completion_length=BUDGET, temperature=1.0, top_p=1.0, top_k=0, beta=0.0, loss_type="dapo", scale_rewards="group",
            num_iterations=1, epsilon=0.2, learning_rate=2e-4, adam_beta1=0.9, adam_beta2=0.95, weight_decay=0.0,
            lr_scheduler_type="constant", max_grad_norm=1.0, use_cpu=True, bf16=False, fp16=False, report_to="none",
            logging_steps=1, save_strategy="no", seed=0, dataloader_num_workers=0, log_completions=False,
        )  # fmt: skip
        clock = trl_step_clock()
        trainer = GRPOTrainer(
            model=AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32),
            reward_funcs=[correctness],
            args=config,
            train_dataset=dataset,
            processing_class=AutoTokenizer.from_pretrained(model_dir),
            callbacks=[clock],
        )
        trainer.train()
    lengths = [log["completions/mean_length"] for log in trainer.state.log_history if "completions/mean_length" in log]
    # TRL's mean length counts tokens up to and including EOS, as bilight's completion mask does.
    return {"seconds": clock.seconds, "tokens": [n * PROMPTS * GENERATIONS for n in lengths]}


def summarise(runs: list[dict[str, Any]]) -> dict[str, float]:
    """Median over repeats of each run's median after the first step."""
    seconds = [statistics.median(r["seconds"][1:] or r["seconds"]) for r in runs]
    rates = [statistics.median([t / s for t, s in zip(r["tokens"][1:], r["seconds"][1:], strict=False)] or [0.0]) for r in runs]
    return {"s_step": median(seconds), "tok_s": median(rates), "rss": max(r["peak_rss_gb"] for r in runs)}


def main() -> None:
    parser = side_by_side_parser(__doc__, "trl")
    parser.add_argument("--steps", type=int, default=6, help="steps per side and repeat (the first is not counted)")
    args = parser.parse_args()
    if args.side is not None:
        emit((run_bilight if args.side == "bilight" else run_trl)(args.model_dir, args.steps))
        return
    if not Path(args.model).is_dir():
        sys.exit(f"--model {args.model}: no such folder; run `bilight fit --config configs/sft/igsm_tiny_bridge.yaml` first")
    print(
        f"GRPO {PROMPTS} prompts x {GENERATIONS}, budget {BUDGET}, threads {torch.get_num_threads()}, {args.steps} steps x {args.repeats}"
    )
    rows, ratios = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes.split(","):
            model_dir = args.model if size == "quickstart" else build_large(args.model, str(Path(tmp) / "large"))
            results = alternate(__file__, ["bilight", "trl"], ["--model_dir", model_dir, "--steps", str(args.steps)], args.repeats)
            ours, theirs = summarise(results["bilight"]), summarise(results["trl"])
            ratios.append(theirs["s_step"] / ours["s_step"])
            for name, s in (("bilight GRPOModule", ours), ("TRL GRPOTrainer", theirs)):
                rows.append([size, name, f"{s['s_step']:.2f}", f"{s['tok_s']:,.0f}", f"{s['rss']:.2f}"])
            rows.append([size, "ratio", f"{ratios[-1]:.2f}x", f"{ours['tok_s'] / max(theirs['tok_s'], 1e-9):.2f}x", ""])
    print(table(["model", "side", "s/step", "generated tok/s", "peak RSS GB"], rows))
    print(f"speedup={min(ratios):.2f}")


if __name__ == "__main__":
    main()
