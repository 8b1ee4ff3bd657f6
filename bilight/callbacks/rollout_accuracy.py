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

Logs (M = ``num_prompts``, N = ``num_samples``):

* ``rollout/mean_alpha``: mean alpha (= ``val/avg@N``, the accuracy of one sample);
* ``rollout/informative_mass``: mean sqrt(alpha (1 - alpha)), 0 to 0.5;
* ``rollout/frac_alpha_0``, ``rollout/frac_alpha_1``: shares of prompts with all samples wrong / right;
* ``rollout/frac_truncated``: share of samples that hit ``max_new_tokens``;
* ``rollout/greedy_acc``: greedy accuracy on the probe prompts (``greedy: true``);
* ``rollout/acc_ops_<d>``: sampled accuracy of the probe prompts with d operations;
* ``val/pass@<k>`` for each k in ``ks`` (unbiased), ``val/avg@<N>``;
* figures ``rollout/alpha_histogram`` and ``rollout/accuracy_by_difficulty`` (TensorBoard, and PNG
  under ``<run>/figures/``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import lightning as L
import torch
from typing_extensions import override

from bilight.callbacks.probe import ProbeCallback, chunk_seed, rank_chunks, reduce_sum, sample_probe
from bilight.data.datamodule import BilightDataModule
from bilight.metrics import AlphaHistogram, accuracy_by_difficulty, alpha_histogram, alpha_summary, avg_at_k, mean_pass_at_k
from bilight.metrics.plots import accuracy_by_difficulty_figure, alpha_histogram_figure
from bilight.modules.common import LMModule
from bilight.rollout import generate_greedy


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


def rollout_metrics(
    correct: torch.Tensor, difficulty: torch.Tensor, ks: Sequence[int], greedy: torch.Tensor | None = None
) -> dict[str, float]:
    """The logged scalars of a ``[M, N]`` correctness table (see the module docstring for the names)."""
    n = correct.shape[1]
    summary = alpha_summary(correct)
    metrics = {f"rollout/{k}": v for k, v in summary.items()}
    metrics.update({f"val/pass@{k}": v for k, v in mean_pass_at_k(correct, [k for k in ks if k <= n]).items()})
    metrics[f"val/avg@{n}"] = avg_at_k(correct)
    metrics.update({f"rollout/acc_ops_{level}": acc for level, (acc, _) in accuracy_by_difficulty(correct, difficulty).items()})
    if greedy is not None:
        metrics["rollout/greedy_acc"] = float(greedy.mean())
    return metrics


class RolloutAccuracy(ProbeCallback):
    """Alpha histogram, informative mass, pass@k and accuracy by difficulty on a fixed probe set.

    Args:
        every_n_steps: also run every this many optimizer steps during fit (None: only at validation).
        on_validation: run at the end of every validation run (fit and ``validate``), except the sanity check.
        num_prompts: probe prompts (the first ones of the data module's ``probe`` split; set ``data.num_probe`` >= this).
        num_samples: completions sampled per prompt (N).
        temperature: sampling temperature (1: the RL policy).
        max_new_tokens: generation budget (None: the module's ``max_new_tokens``).
        chunk_size: prompts sampled per batch, and the unit of work split across ranks.
        seed: seeds the probe generators.
        ks: k values of the unbiased pass@k (those above N are skipped).
        greedy: also decode the probe prompts greedily (``rollout/greedy_acc``).
    """

    def __init__(
        self,
        every_n_steps: int | None = None,
        on_validation: bool = True,
        num_prompts: int = 64,
        num_samples: int = 8,
        temperature: float = 1.0,
        max_new_tokens: int | None = None,
        chunk_size: int = 16,
        seed: int = 0,
        ks: Sequence[int] = (1, 2, 4, 8),
        greedy: bool = True,
    ) -> None:
        super().__init__(every_n_steps, on_validation, num_prompts, num_samples, temperature, max_new_tokens, chunk_size, seed)
        self.ks, self.greedy = tuple(ks), greedy
        self.result: RolloutResult | None = None

    @override
    def measure(self, trainer: L.Trainer, module: LMModule, datamodule: BilightDataModule) -> dict[str, float]:
        m, n = self.probe_size(datamodule), self.num_samples
        # One table, one all-reduce: columns [correct x N | truncated x N | greedy | difficulty].
        table = torch.zeros(m, 2 * n + 2, dtype=torch.float64)
        for chunk, rows in rank_chunks(m, self.chunk_size, trainer.global_rank, trainer.world_size):
            probe = sample_probe(
                module,
                datamodule,
                rows,
                num_samples=n,
                temperature=self.temperature,
                max_new_tokens=self.budget(module),
                seed=chunk_seed(self.seed, chunk),
            )
            table[probe.rows, :n] = probe.correct
            table[probe.rows, n : 2 * n] = probe.truncated.to(torch.float64)
            table[probe.rows, -1] = probe.difficulty.to(torch.float64)
            if self.greedy:
                table[probe.rows, -2] = self._greedy(module, datamodule, probe.prompt_ids, probe.prompt_mask, list(rows))
        table = reduce_sum(trainer, table)
        correct, difficulty = table[:, :n], table[:, -1].round().to(torch.int64)
        greedy = table[:, -2] if self.greedy else torch.full((m,), float("nan"), dtype=torch.float64)
        metrics = rollout_metrics(correct, difficulty, self.ks, greedy if self.greedy else None)
        metrics["rollout/frac_truncated"] = float(table[:, n : 2 * n].mean())
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
                trainer, alpha_histogram_figure(self.result.histogram, f"Rollout accuracy per prompt ({step})"), "rollout/alpha_histogram"
            )
            self.save_figure(
                trainer,
                accuracy_by_difficulty_figure(self.result.by_difficulty, f"Sampled accuracy by difficulty ({step})"),
                "rollout/accuracy_by_difficulty",
            )
        return metrics

    def _greedy(
        self, module: LMModule, datamodule: BilightDataModule, prompt_ids: torch.Tensor, prompt_mask: torch.Tensor, rows: list[int]
    ) -> torch.Tensor:
        tokenizer = module.tokenizer
        out = generate_greedy(module.model, prompt_ids, prompt_mask, self.budget(module), tokenizer.eos_token_id, tokenizer.pad_token_id)
        texts = tokenizer.batch_decode(out.completion_ids, skip_special_tokens=True)
        index = datamodule.prompts("probe")["index"]
        return torch.tensor(
            [float(datamodule.verify("probe", int(index[r]), t).correct) for r, t in zip(rows, texts, strict=True)], dtype=torch.float64
        )
