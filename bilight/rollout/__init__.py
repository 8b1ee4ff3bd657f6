"""Generation, independent of training, and the one path from prompts to verdicts.

`generate` samples G completions per prompt with a shared prompt prefill (or decodes greedily) and
returns a `bilight.types.Rollouts`; `sample_and_judge` adds decoding and the judge's verdicts and is
what every caller uses (validation, GRPO rollouts, the probe callbacks, the evaluation script).
"""

from bilight.rollout.judge import Sampling, judge_rollouts, prompt_batch, sample, sample_and_judge
from bilight.rollout.sampler import filter_logits, generate, inverse_cdf, position_ids

__all__ = [
    "Sampling",
    "filter_logits",
    "generate",
    "inverse_cdf",
    "judge_rollouts",
    "position_ids",
    "prompt_batch",
    "sample",
    "sample_and_judge",
]
