"""Generation, independent of training: group sampling with a shared prompt prefill, and greedy decoding.

The GRPO module and the callbacks call `generate` (sampling, G completions per prompt) and
`generate_greedy` (validation); both return a `Generation` whose fields drop straight into a
`bilight.types.RolloutBatch`.
"""

from bilight.rollout.sampler import Generation, choose_tokens, filter_logits, generate, generate_greedy, position_ids

__all__ = ["Generation", "choose_tokens", "filter_logits", "generate", "generate_greedy", "position_ids"]
