"""Rollout-accuracy metrics: unbiased pass@k, avg@k, per-prompt alpha and its histogram, informative mass.

Why these: the first factor of BRIDGE's first-order RL gain (docs/design.md, section 1) is the rollout
accuracy alpha_q = n_q / N of each prompt q (n_q correct out of N samples). A GRPO group with
alpha in {0, 1} has zero advantage everywhere and teaches nothing, so we report the whole
distribution of alpha, not only its mean. Everything is a pure function of a correctness tensor
``correct [M, N]`` (M prompts, N samples each, bool or {0, 1}); the callbacks gather it (over ranks
too) and log what comes out.

Formulas:

* ``alpha_q = mean_o correct[q, o]``;  ``avg@k = mean_q alpha_q`` (mean accuracy of a sample);
* unbiased pass@k (Chen et al. 2021, "Evaluating Large Language Models Trained on Code"), with n
  samples of which c are correct: ``1 - C(n-c, k) / C(n, k) = 1 - prod_{i=n-c+1}^{n} (1 - k / i)``,
  and 1 when ``n - c < k``; the product form never forms a binomial coefficient, so it is stable;
* informative mass ``= mean_q sqrt(alpha_q (1 - alpha_q))`` (0 when every prompt is always right
  or always wrong, at most 1/2, reached when every alpha is 1/2);
* ``frac_alpha_0``, ``frac_alpha_1``: shares of prompts whose samples are all wrong / all right;
* accuracy by difficulty: mean correctness of the prompts at each integer difficulty level.

Shapes are documented per function. Inputs are CPU tensors; outputs are tensors where a per-prompt
or per-bin result is natural, plain floats and dicts for the numbers a logger takes.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


def _as_correct(correct: torch.Tensor, name: str = "correct") -> torch.Tensor:
    """Check ``correct`` is ``[M, N]`` and return it as float64 in {0, 1}."""
    if correct.dim() != 2 or correct.shape[1] == 0:
        raise ValueError(f"{name}: expected a [M, N] tensor with N >= 1 (M prompts, N samples each), got shape {tuple(correct.shape)}")
    values = correct.to(torch.float64)
    if not bool(((values == 0) | (values == 1)).all()):
        raise ValueError(f"{name}: entries must be 0/1 or bool (binary correctness, not shaped rewards)")
    return values


def pass_at_k(n: int | torch.Tensor, c: int | torch.Tensor, k: int) -> torch.Tensor:
    """Unbiased pass@k per prompt: the chance that k of the n samples, drawn without replacement, hold a correct one.

    Args:
        n: samples per prompt, an int or a ``[M]`` integer tensor.
        c: correct samples per prompt, an int or a ``[M]`` integer tensor, ``0 <= c <= n``.
        k: samples per attempt, ``1 <= k <= min(n)``.

    Returns:
        float64 tensor of the broadcast shape of ``n`` and ``c`` (``[]`` for two ints), each
        ``1 - prod_{i=n-c+1}^{n} (1 - k/i)``, or 1 where ``n - c < k``.
    """
    n_t = torch.as_tensor(n, dtype=torch.int64)
    c_t = torch.as_tensor(c, dtype=torch.int64)
    n_t, c_t = torch.broadcast_tensors(n_t, c_t)
    if bool((c_t < 0).any()) or bool((c_t > n_t).any()):
        raise ValueError(f"pass_at_k: need 0 <= c <= n, got n={n_t.tolist()}, c={c_t.tolist()}")
    if k < 1 or bool((n_t < k).any()):
        raise ValueError(f"pass_at_k: need 1 <= k <= n, got k={k}, n={n_t.tolist()}")
    if n_t.numel() == 0:
        return torch.zeros(n_t.shape, dtype=torch.float64)
    i = torch.arange(1, int(n_t.max()) + 1, dtype=torch.float64)  # [n_max]
    # Factor i takes part for n - c < i <= n; there i > k whenever n - c >= k, so log1p(-k/i) is finite.
    # Where n - c < k it may be -inf or NaN, but those prompts are overwritten with 1 below.
    in_product = (i > (n_t - c_t).unsqueeze(-1)) & (i <= n_t.unsqueeze(-1))  # [..., n_max]
    log_factors = torch.log1p(-k / i)
    log_prod = torch.where(in_product, log_factors, torch.zeros(())).sum(-1)
    value = 1.0 - torch.exp(log_prod)
    return torch.where(n_t - c_t < k, torch.ones((), dtype=torch.float64), value)


def mean_pass_at_k(correct: torch.Tensor, ks: list[int] | tuple[int, ...]) -> dict[int, float]:
    """Mean unbiased pass@k over prompts, for each k in ``ks``.

    Args:
        correct: ``[M, N]`` binary correctness (M prompts, N samples each); needs ``max(ks) <= N``.
        ks: the k values; each must satisfy ``1 <= k <= N``.

    Returns:
        ``{k: mean_q pass@k(N, c_q, k)}``; pass@1 equals avg@k.
    """
    values = _as_correct(correct)
    n, c = values.shape[1], values.sum(1).round().to(torch.int64)
    return {k: float(pass_at_k(n, c, k).mean()) for k in ks}


def avg_at_k(correct: torch.Tensor) -> float:
    """Mean correctness of all ``[M, N]`` samples (avg@N: the accuracy of one sample at the sampling temperature)."""
    return float(_as_correct(correct).mean())


def rollout_alpha(correct: torch.Tensor) -> torch.Tensor:
    """Per-prompt rollout accuracy: ``[M, N]`` binary correctness -> ``[M]`` float64 alpha = n_correct / N."""
    return _as_correct(correct).mean(1)


@dataclass(frozen=True)
class AlphaHistogram:
    """Counts of prompts per rollout-accuracy level.

    Attributes:
        counts: ``[N+1]`` int64, ``counts[j]`` = number of prompts with alpha = j / N.
        centers: ``[N+1]`` float64, the levels ``0, 1/N, ..., 1``.
        edges: ``[N+2]`` float64 bin edges ``(j - 1/2) / N``, for a bar chart or ``numpy.histogram``.
    """

    counts: torch.Tensor
    centers: torch.Tensor
    edges: torch.Tensor

    @property
    def fractions(self) -> torch.Tensor:
        """``[N+1]`` share of prompts per level (zeros when there are no prompts)."""
        total = self.counts.sum()
        return self.counts.to(torch.float64) / total.clamp(min=1)


def alpha_histogram(alpha: torch.Tensor, num_samples: int) -> AlphaHistogram:
    """Histogram of per-prompt alpha on the N+1 levels it can take with N samples per prompt.

    Args:
        alpha: ``[M]`` per-prompt rollout accuracy in [0, 1] (``rollout_alpha`` output).
        num_samples: N, samples per prompt; alpha is rounded to the nearest multiple of 1/N.

    Returns:
        An ``AlphaHistogram`` with N+1 bins centred at ``0, 1/N, ..., 1``.
    """
    if num_samples < 1:
        raise ValueError(f"alpha_histogram: num_samples must be >= 1, got {num_samples}")
    if alpha.dim() != 1 or bool(((alpha < 0) | (alpha > 1)).any()):
        raise ValueError(f"alpha_histogram: alpha must be a [M] tensor with values in [0, 1], got shape {tuple(alpha.shape)}")
    levels = (alpha.to(torch.float64) * num_samples).round().to(torch.int64)
    counts = torch.bincount(levels, minlength=num_samples + 1)
    centers = torch.arange(num_samples + 1, dtype=torch.float64) / num_samples
    edges = (torch.arange(num_samples + 2, dtype=torch.float64) - 0.5) / num_samples
    return AlphaHistogram(counts=counts, centers=centers, edges=edges)


def informative_mass(alpha: torch.Tensor) -> float:
    """``mean_q sqrt(alpha_q (1 - alpha_q))`` over a ``[M]`` alpha tensor: 0 if every prompt is always right or always wrong."""
    if alpha.numel() == 0:
        return 0.0
    a = alpha.to(torch.float64)
    return float((a * (1 - a)).clamp(min=0).sqrt().mean())


def alpha_summary(correct: torch.Tensor) -> dict[str, float]:
    """The scalar rollout-accuracy numbers of a ``[M, N]`` correctness tensor.

    Returns:
        ``{"mean_alpha", "informative_mass", "frac_alpha_0", "frac_alpha_1"}``: mean alpha (= avg@N),
        mean sqrt(alpha(1-alpha)), and the shares of prompts with all samples wrong / all right.
    """
    alpha = rollout_alpha(correct)
    return {
        "mean_alpha": float(alpha.mean()),
        "informative_mass": informative_mass(alpha),
        "frac_alpha_0": float((alpha == 0).to(torch.float64).mean()),
        "frac_alpha_1": float((alpha == 1).to(torch.float64).mean()),
    }


def accuracy_by_difficulty(correct: torch.Tensor, difficulty: torch.Tensor) -> dict[int, tuple[float, int]]:
    """Mean correctness per difficulty level (e.g. number of operations).

    Args:
        correct: ``[M]`` (one greedy answer per prompt) or ``[M, N]`` (N samples per prompt) binary correctness.
        difficulty: ``[M]`` integer difficulty per prompt.

    Returns:
        ``{level: (accuracy, num_prompts)}`` in increasing level order; accuracy is the mean over the
        level's prompts and their samples.
    """
    values = _as_correct(correct.unsqueeze(1) if correct.dim() == 1 else correct)
    if difficulty.dim() != 1 or difficulty.shape[0] != values.shape[0]:
        raise ValueError(f"accuracy_by_difficulty: difficulty must be [M] with M={values.shape[0]}, got shape {tuple(difficulty.shape)}")
    per_prompt = values.mean(1)
    levels = difficulty.to(torch.int64)
    out: dict[int, tuple[float, int]] = {}
    for level in sorted(set(levels.tolist())):
        chosen = per_prompt[levels == level]
        out[int(level)] = (float(chosen.mean()), int(chosen.numel()))
    return out
