"""Accuracy metrics as ``torchmetrics.Metric``s: accumulated over batches, reduced over ranks by the library.

Why torchmetrics: validation and the probe callbacks see their problems in batches, on several
ranks; a `Metric` keeps sums as registered states with ``dist_reduce_fx="sum"``, so epoch
accumulation (Lightning's ``self.log(name, metric)``) and the DDP all-reduce (``compute()``) are
the library's, not hand-written. The formulas are those of `bilight.metrics.accuracy`.

* `MeanAccuracy`: mean 0/1 correctness of everything it was given. It is greedy accuracy when fed
  greedy verdicts, rollout accuracy / avg@k when fed ``[M, k]`` sampled verdicts.
* `PassAtK`: mean unbiased pass@k over prompts, fed ``[M, N]`` verdicts (N >= k samples each).

States are float32 (the default dtype), as Lightning's own running means, so a number logged
through a metric is the number a plain ``self.log(name, mean)`` gave before.
"""

from __future__ import annotations

import torch
from torchmetrics import Metric

from bilight.metrics.accuracy import pass_at_k


class MeanAccuracy(Metric):
    """Mean of 0/1 correctness over all updates (and ranks)."""

    full_state_update = False
    higher_is_better = True
    correct: torch.Tensor
    total: torch.Tensor

    def __init__(self) -> None:
        super().__init__()
        self.add_state("correct", default=torch.tensor(0.0), dist_reduce_fx="sum")
        self.add_state("total", default=torch.tensor(0.0), dist_reduce_fx="sum")

    def update(self, correct: torch.Tensor) -> None:
        """Add a tensor of 0/1 verdicts of any shape."""
        self.correct += correct.float().sum().to(self.correct.device)
        self.total += correct.numel()

    def compute(self) -> torch.Tensor:
        return self.correct / self.total.clamp(min=1)


class PassAtK(Metric):
    """Mean unbiased pass@k over prompts (Chen et al. 2021), over all updates (and ranks).

    Args:
        k: samples per attempt; every update needs at least k samples per prompt.
    """

    full_state_update = False
    higher_is_better = True
    passed: torch.Tensor
    prompts: torch.Tensor

    def __init__(self, k: int) -> None:
        super().__init__()
        self.k = k
        self.add_state("passed", default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("prompts", default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, correct: torch.Tensor) -> None:
        """Add ``[M, N]`` 0/1 verdicts (M prompts, N samples each)."""
        n, c = correct.shape[1], correct.to(torch.float64).sum(1).round().to(torch.int64).cpu()
        self.passed += pass_at_k(n, c, self.k).sum().to(self.passed.device)
        self.prompts += correct.shape[0]

    def compute(self) -> torch.Tensor:
        return (self.passed / self.prompts.clamp(min=1)).float()
