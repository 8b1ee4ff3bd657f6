"""Greedy accuracy and sampled accuracy (avg@k, pass@k) of a checkpoint, with standard errors.

Why a script and not ``bilight validate``: a before/after claim needs many problems, standard
errors and per-problem results (for a paired difference), which the validation loop does not keep.

    OMP_NUM_THREADS=1 python benchmarks/eval_checkpoint.py --config configs/grpo/igsm_tiny_bridge.yaml \
        --model runs/grpo/igsm_tiny_bridge/checkpoints/last.ckpt --num 1000 --k 4 --out after.json
    python benchmarks/eval_checkpoint.py --compare before.json after.json

``--model`` is a Lightning ``.ckpt`` or a ``save_pretrained`` folder; the data settings (task, seeds,
prompt template, hence tokenizer) come from ``--config``. Problems are the first ``--num`` of the
``val_id`` split (``--split val_ood`` for the harder set). Samples use the config's temperature
(``model.init_args.temperature``, default 1) and a fixed seed, so two checkpoints see the same RNG.

Standard errors: greedy ``sqrt(p (1 - p) / n)``; avg@k the std of per-problem means over sqrt(n);
``--compare`` reports the paired difference and its SE over the same problems.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from functools import partial
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch
import yaml

from bilight.data import BilightDataModule
from bilight.metrics.accuracy import mean_pass_at_k
from bilight.modules.common import build_model, load_weights
from bilight.rollout import Sampling, sample_and_judge


def load(config: str, model_path: str, num: int) -> tuple[BilightDataModule, torch.nn.Module, dict]:
    from jsonargparse import ArgumentParser

    raw = yaml.safe_load(Path(config).read_text())
    parser = ArgumentParser()
    parser.add_class_arguments(BilightDataModule, "data")
    data_cfg = dict(raw["data"], num_val=num, cache_dir=None)
    cfg = parser.instantiate(parser.parse_object({"data": data_cfg}))
    dm: BilightDataModule = cfg.data
    model_args = raw["model"]["init_args"]
    sizes = {k: model_args[k] for k in ("hidden_size", "num_layers", "num_heads") if k in model_args}
    model = build_model(dm.tokenizer, **sizes)
    load_weights(model, model_path)
    return dm, model.eval(), model_args


def evaluate(dm: BilightDataModule, model: torch.nn.Module, split: str, k: int, temperature: float, max_new_tokens: int) -> dict:
    dm.setup("validate")
    loader = dm._loader(dm.datasets[split], 125)
    greedy: list[float] = []
    sampled: list[list[float]] = []
    judged = partial(sample_and_judge, model, dm.tokenizer, split=split, judge=dm.judge)
    for b, batch in enumerate(loader):
        out = judged(batch, sampling=Sampling(greedy=True, max_new_tokens=max_new_tokens))
        greedy += out.correct.tolist()
        if k > 0:
            sampling = Sampling(num_samples=k, temperature=temperature, max_new_tokens=max_new_tokens)
            out = judged(batch, sampling=sampling, generator=torch.Generator().manual_seed(12345 + b))
            sampled += out.grouped(out.correct).tolist()
    n = len(greedy)
    p = sum(greedy) / n
    result = {"split": split, "n": n, "greedy": p, "greedy_se": math.sqrt(p * (1 - p) / n)}
    if k > 0:
        per_problem = torch.tensor(sampled).mean(1)
        result |= {
            "k": k,
            "temperature": temperature,
            f"avg@{k}": float(per_problem.mean()),
            f"avg@{k}_se": float(per_problem.std() / math.sqrt(n)),
            f"pass@{k}": mean_pass_at_k(torch.tensor(sampled), [k])[k],
        }
    result |= {"per_problem_greedy": greedy, "per_problem_sampled": sampled}
    return result


def compare(before_path: str, after_path: str) -> None:
    before, after = (json.loads(Path(p).read_text()) for p in (before_path, after_path))
    g0, g1 = torch.tensor(before["per_problem_greedy"]), torch.tensor(after["per_problem_greedy"])
    rows = [("greedy", g0, g1)]
    if before.get("per_problem_sampled") and after.get("per_problem_sampled"):
        rows.append(
            (f"avg@{after['k']}", torch.tensor(before["per_problem_sampled"]).mean(1), torch.tensor(after["per_problem_sampled"]).mean(1))
        )
    n = len(g0)
    print(f"{'metric':<10} {'before':>16} {'after':>16} {'paired diff':>18}   (n={n} {after['split']} problems)")
    for name, a, b in rows:
        se = lambda x: float(x.std() / math.sqrt(n))  # noqa: E731
        d = b - a
        print(
            f"{name:<10} {float(a.mean()):>8.3f} ± {se(a):.3f} {float(b.mean()):>8.3f} ± {se(b):.3f} {float(d.mean()):>+10.3f} ± {se(d):.3f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", help="YAML with the data section (and model sizes, temperature, max_new_tokens)")
    parser.add_argument("--model", help="Lightning .ckpt or save_pretrained folder")
    parser.add_argument("--num", type=int, default=1000, help="problems of the split")
    parser.add_argument("--k", type=int, default=4, help="samples per problem for avg@k / pass@k (0: greedy only)")
    parser.add_argument("--split", default="val_id", choices=["val_id", "val_ood"])
    parser.add_argument("--out", help="write the result (with per-problem correctness) as JSON")
    parser.add_argument("--compare", nargs=2, metavar=("BEFORE", "AFTER"), help="print the paired difference of two --out files")
    args = parser.parse_args()
    if args.compare:
        compare(*args.compare)
        return
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    dm, model, model_args = load(args.config, args.model, args.num)
    start = time.perf_counter()
    with torch.no_grad():
        result = evaluate(
            dm, model, args.split, args.k, float(model_args.get("temperature", 1.0)), int(model_args.get("max_new_tokens", 160))
        )
    result |= {"model": args.model, "seconds": round(time.perf_counter() - start, 1)}
    print(json.dumps({k: v for k, v in result.items() if not k.startswith("per_problem")}, indent=2))
    if args.out:
        Path(args.out).write_text(json.dumps(result))


if __name__ == "__main__":
    main()
