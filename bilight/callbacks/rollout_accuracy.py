"""`RolloutAccuracy`: the distribution of per-prompt rollout accuracy alpha on a fixed probe set, while training or on a checkpoint.

Why: BRIDGE's first factor of the RL gain (DESIGN.md section 1) is sqrt(alpha (1 - alpha)) per
prompt: a GRPO group whose samples are all right or all wrong has zero advantage and teaches
nothing. So the callback samples N completions (temperature 1, as in RL) for each of M fixed probe
prompts and reports the whole alpha histogram, not only its mean. The math is in
`bilight.metrics.accuracy`; the schedule, the seeded sampling and the DDP split in
`bilight.callbacks.probe`.

Greedy accuracy: the module's own validation already logs ``val/acc_id`` and ``val/acc_ood`` on the
full validation splits (the report reuses them); this callback adds greedy accuracy on the probe
prompts, so the sampled and greedy numbers are on the same prompts.

avg@N, pass@k and greedy accuracy are torchmetrics `Metric`s (`bilight.metrics.streaming`), updated
chunk by chunk on each rank and reduced by the library; the per-prompt table behind the histogram
is summed over ranks once.

Logs, all under ``probe/`` (M = ``num_prompts``, N = ``num_samples``; `bilight.metrics.names`):

* ``probe/mean_alpha``: mean alpha, the accuracy of one sample (= avg@N);
* ``probe/informative_mass``: mean sqrt(alpha (1 - alpha)), 0 to 0.5;
* ``probe/frac_alpha_0``, ``probe/frac_alpha_1``: shares of prompts with all samples wrong / right;
* ``probe/frac_truncated``: share of samples that hit ``max_new_tokens``;
* ``probe/greedy_acc``: greedy accuracy on the probe prompts (``greedy: true``);
* ``probe/acc_ops_<d>``: sampled accuracy of the probe prompts with d operations;
* ``probe/pass@<k>`` for each k in ``ks`` (unbiased);
* figures ``probe/alpha_histogram`` and ``probe/accuracy_by_difficulty`` (TensorBoard, and PNG
  under ``<run>/figures/``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import lightning as L
import torch
from typing_extensions import override

from bilight.callbacks.probe import ProbeCallback, chunk_seed, probe_difficulty, rank_chunks, reduce_sum, sample_probe
from bilight.metrics import AlphaHistogram, accuracy_by_difficulty, alpha_histogram, alpha_summary
from bilight.metrics.plots import accuracy_by_difficulty_figure, alpha_histogram_figure
from bilight.metrics.streaming import MeanAccuracy, PassAtK
from bilight.modules.common import LMModule


@dataclass(frozen=True)
class RolloutResult:
    """Everything one measurement produced, gathered over ranks.

    Attributes:
        correct: ``[M, N]`` float64 verdicts of the sampled completions.
        greedy: ``[M]`` float64 verdicts of the greedy completions (NaN when greedy is off).
        difficulty: ``[M]`` int64 operations per prompt.
        histogram: the alpha histogram over the M prompts.
        by_difficulty: ``{operations: (sampled accuracy, prompts)}``.
        step: global step of the measurement.
    """

    correct: torch.Tensor
    greedy: torch.Tensor
    difficulty: torch.Tensor
    histogram: AlphaHistogram
    by_difficulty: dict[int, tuple[float, int]]
    step: int


def rollout_metrics(correct: torch.Tensor, difficulty: torch.Tensor) -> dict[str, float]:
    """The histogram-side scalars of a ``[M, N]`` correctness table (see the module docstring for the names)."""
    metrics = {f"probe/{k}": v for k, v in alpha_summary(correct).items()}
    metrics.update({f"probe/acc_ops_{level}": acc for level, (acc, _) in accuracy_by_difficulty(correct, difficulty).items()})
    return metrics


class RolloutAccuracy(ProbeCallback):
    """Alpha histogram, informative mass, pass@k and accuracy by difficulty on a fixed probe set.

    Args:
        ks: k values of the unbiased pass@k (those above ``num_samples`` are skipped).
        greedy: also decode the probe prompts greedily (``probe/greedy_acc``).
        **kwargs: the probe arguments of `ProbeCallback` (``num_prompts``, ``num_samples``, ``every_n_steps``, ...).
    """

    def __init__(self, ks: Sequence[int] = (1, 2, 4, 8), greedy: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ks, self.greedy = tuple(ks), greedy
        self.result: RolloutResult | None = None

    @override
    def measure(self, trainer: L.Trainer, module: LMModule) -> dict[str, float]:
        m, n = self.probe_size(module), self.num_samples
        ks = [k for k in self.ks if k <= n]
        sampled, greedy_acc = MeanAccuracy(), MeanAccuracy()
        pass_at = {k: PassAtK(k) for k in ks}
        # One table, one all-reduce: columns [correct x N | truncated x N | greedy | difficulty].
        table = torch.zeros(m, 2 * n + 2, dtype=torch.float64)
        for chunk, rows in rank_chunks(m, self.chunk_size, trainer.global_rank, trainer.world_size):
            probe = sample_probe(module, rows, self.sampling(module), seed=chunk_seed(self.seed, chunk))
            correct = probe.grouped(probe.correct).cpu()
            sampled.update(correct)
            for metric in pass_at.values():
                metric.update(correct)
            table[rows.start : rows.stop, :n] = correct.to(torch.float64)
            table[rows.start : rows.stop, n : 2 * n] = probe.grouped(probe.truncated).cpu().to(torch.float64)
            table[rows.start : rows.stop, -1] = probe_difficulty(module, rows).to(torch.float64)
            if self.greedy:
                decoded = sample_probe(module, rows, self.sampling(module).with_(num_samples=1, greedy=True))
                verdicts = decoded.grouped(decoded.correct)[:, 0].cpu()
                greedy_acc.update(verdicts)
                table[rows.start : rows.stop, -2] = verdicts.to(torch.float64)
        table = reduce_sum(trainer, table)
        correct, difficulty = table[:, :n], table[:, -1].round().to(torch.int64)
        greedy = table[:, -2] if self.greedy else torch.full((m,), float("nan"), dtype=torch.float64)
        metrics = rollout_metrics(correct, difficulty)
        metrics["probe/frac_truncated"] = float(table[:, n : 2 * n].mean())
        metrics.update({f"probe/pass@{k}": float(metric.compute()) for k, metric in pass_at.items()})
        metrics[f"probe/avg@{n}"] = float(sampled.compute())
        if self.greedy:
            metrics["probe/greedy_acc"] = float(greedy_acc.compute())
        self.result = RolloutResult(
            correct=correct,
            greedy=greedy,
            difficulty=difficulty,
            histogram=alpha_histogram(correct.mean(1), n),
            by_difficulty=accuracy_by_difficulty(correct, difficulty),
            step=trainer.global_step,
        )
        if trainer.is_global_zero:
            step = f"step {trainer.global_step}"
            self.save_figure(
                trainer, alpha_histogram_figure(self.result.histogram, f"Rollout accuracy per prompt ({step})"), "probe/alpha_histogram"
            )
            self.save_figure(
                trainer,
                accuracy_by_difficulty_figure(self.result.by_difficulty, f"Sampled accuracy by difficulty ({step})"),
                "probe/accuracy_by_difficulty",
            )
        return metrics
