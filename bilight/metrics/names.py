"""Every logged metric key in one table: what it counts and which stage logs it.

Why a table: a key must mean one thing wherever it appears (a CSV column compared across runs, a
curve in TensorBoard, a row of the report). Before this table, ``rollout/greedy_acc`` was the GRPO
step's own prompts in one place and the probe set in another, and probe numbers were logged as
``val/...``. Now the prefix says where a number comes from:

* ``train/``: the optimizer step (SFT or GRPO); ``rollout/``: the GRPO step's own sampled groups;
  ``time/``: wall time of a GRPO step's phases;
* ``val/``: the validation splits, through the module's validation loop; ``test/``: the test splits, under
  ``bilight test``;
* ``probe/``: the fixed probe prompts, through `RolloutAccuracy`; ``influence/``: through `CoInfluence`.

``{k}`` stands for an integer (samples or pass@k's k), ``{split}`` for ``id`` or ``ood``, ``{d}`` for
a number of operations, ``{term}`` for an extra reward's name. A test checks that every key the
modules and callbacks log matches a row.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class MetricName:
    """One row of the table: ``key`` (a pattern with ``{...}`` placeholders), its meaning, and who logs it."""

    key: str
    meaning: str
    stage: str

    def matches(self, name: str) -> bool:
        pattern = re.escape(self.key)
        for placeholder, regex in (("split", "(id|ood)"), ("k", r"\d+"), ("d", r"\d+"), ("term", r"\w+")):
            pattern = pattern.replace(re.escape("{" + placeholder + "}"), regex)
        return re.fullmatch(pattern, name) is not None


SFT, GRPO, BOTH, VALIDATION = "SFT", "GRPO", "SFT, GRPO", "SFT and GRPO validation"
TEST = "`bilight test` (SFT or GRPO module)"
PROBE, INFLUENCE = "RolloutAccuracy callback", "CoInfluence callback"

METRICS: tuple[MetricName, ...] = (
    MetricName("train/loss", "SFT: mean cross-entropy per label token; GRPO: the policy loss of the step (loss_type)", BOTH),
    MetricName(
        "train/tokens_per_sec",
        "non-padding tokens (prompt + completion) of the rows the optimizer steps trained on, per second of wall time "
        "since the epoch began (GRPO: generation time included)",
        BOTH,
    ),
    MetricName("train/lr", "learning rate of the step", GRPO),
    MetricName("lr-AdamW", "learning rate (LearningRateMonitor)", SFT),
    MetricName("train/grad_norm", "gradient norm before clipping", GRPO),
    MetricName("train/entropy", "mean token entropy of the policy on the step's completions", GRPO),
    MetricName("train/clip_low", "share of tokens whose ratio was clipped below 1 - epsilon", GRPO),
    MetricName("train/clip_high", "share of tokens whose ratio was clipped above 1 + epsilon_high", GRPO),
    MetricName("train/clip_region", "share of tokens in either clip region", GRPO),
    MetricName("train/kl", "mean KL estimate to the reference model (beta > 0)", GRPO),
    MetricName("rollout/acc", "mean 0/1 correctness of every sampled completion of the step (all rounds)", GRPO),
    MetricName("rollout/greedy_acc", "greedy accuracy on the step's own prompts (greedy_in_group), before the update", GRPO),
    MetricName("rollout/reward_mean", "mean total reward of the step's completions", GRPO),
    MetricName("rollout/reward_std", "standard deviation of the total reward", GRPO),
    MetricName("rollout/reward_{term}", "mean of one extra reward term before weighting", GRPO),
    MetricName("rollout/frac_zero_std", "share of groups whose rewards are all equal (no learning signal)", GRPO),
    MetricName("rollout/frac_all_correct", "share of groups with every completion right", GRPO),
    MetricName("rollout/frac_all_wrong", "share of groups with every completion wrong", GRPO),
    MetricName("rollout/completion_len_min", "shortest completion of the step, tokens", GRPO),
    MetricName("rollout/completion_len_mean", "mean completion length, tokens", GRPO),
    MetricName("rollout/completion_len_max", "longest completion, tokens", GRPO),
    MetricName("rollout/clipped_frac", "share of completions that hit max_new_tokens", GRPO),
    MetricName("rollout/refills", "extra rollout rounds of dynamic sampling", GRPO),
    MetricName("rollout/kept_groups", "groups the update trained on", GRPO),
    MetricName("rollout/tokens_per_sec", "generated tokens (all rounds) per second of the step's wall time", GRPO),
    MetricName("time/generation", "seconds spent sampling and judging", GRPO),
    MetricName("time/scoring", "seconds spent on the extra reward terms", GRPO),
    MetricName("time/update", "seconds spent in the optimizer steps", GRPO),
    MetricName("val/loss", "SFT loss on the in-distribution validation split", SFT),
    MetricName("val/acc_{split}", "greedy accuracy on the validation split (id: held out, same task; ood: the OOD task)", VALIDATION),
    MetricName("val/avg@{k}_{split}", "mean accuracy of k samples per problem at the rollout temperature", GRPO),
    MetricName("val/pass@{k}_{split}", "unbiased pass@k of those k samples", GRPO),
    MetricName(
        "test/acc_{split}",
        "greedy accuracy on the test split (id: the task's held-out test problems; ood: the OOD task's test split)",
        TEST,
    ),
    MetricName(
        "test/avg@{k}_{split}",
        "mean accuracy of test_num_samples samples per test problem (GRPO: at the rollout temperature; SFT: test_temperature)",
        TEST,
    ),
    MetricName("test/pass@{k}_{split}", "unbiased pass@k of those samples", TEST),
    MetricName("train/nonfinite_skipped", "optimizer steps skipped for a non-finite gradient (--nonfinite.action skip)", BOTH),
    MetricName("probe/mean_alpha", "mean per-prompt rollout accuracy alpha on the probe prompts (= probe/avg@N)", PROBE),
    MetricName("probe/avg@{k}", "mean accuracy of the N = k samples per probe prompt", PROBE),
    MetricName("probe/pass@{k}", "unbiased pass@k on the probe prompts", PROBE),
    MetricName("probe/informative_mass", "mean sqrt(alpha (1 - alpha)) over probe prompts (0 to 0.5)", PROBE),
    MetricName("probe/frac_alpha_0", "share of probe prompts with every sample wrong", PROBE),
    MetricName("probe/frac_alpha_1", "share of probe prompts with every sample right", PROBE),
    MetricName("probe/frac_truncated", "share of probe samples that hit max_new_tokens", PROBE),
    MetricName("probe/greedy_acc", "greedy accuracy on the probe prompts", PROBE),
    MetricName("probe/acc_ops_{d}", "sampled accuracy of the probe prompts with d operations", PROBE),
    MetricName("influence/co_influence", "E[A(q', o') (K+ - K-)] over valid ordered probe-prompt pairs", INFLUENCE),
    MetricName("influence/delta_j", "the same weighted by the source's sqrt(alpha (1 - alpha)): the dJ estimate", INFLUENCE),
    MetricName("influence/k_plus", "K+ term (mean kernel with the source's correct rollouts)", INFLUENCE),
    MetricName("influence/k_minus", "K- term (mean kernel with the source's wrong rollouts)", INFLUENCE),
    MetricName("influence/co_influence_cos", "co_influence on unit-length gradients", INFLUENCE),
    MetricName("influence/delta_j_cos", "delta_j on unit-length gradients", INFLUENCE),
    MetricName("influence/k_plus_cos", "k_plus on unit-length gradients", INFLUENCE),
    MetricName("influence/k_minus_cos", "k_minus on unit-length gradients", INFLUENCE),
    MetricName("influence/num_pairs", "valid ordered pairs (source with 0 < alpha < 1)", INFLUENCE),
    MetricName("influence/grad_norm", "mean projected gradient norm", INFLUENCE),
    MetricName("influence/mean_alpha", "mean alpha of the co-influence probe prompts", INFLUENCE),
)


def describe(name: str) -> MetricName:
    """The table row of a logged key (a KeyError names keys missing from the table)."""
    for row in METRICS:
        if row.matches(name):
            return row
    raise KeyError(f"metric {name!r} is not in bilight.metrics.names.METRICS; add a row that says what it counts")


def markdown() -> str:
    """The table as Markdown (the README section on metrics is this output)."""
    lines = ["| key | what it counts | logged by |", "|---|---|---|"]
    lines += [f"| `{m.key}` | {m.meaning} | {m.stage} |" for m in METRICS]
    return "\n".join(lines)
