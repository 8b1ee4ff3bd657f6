"""The paper's experiment: SFT recipes x seeds, each through SFT -> diagnosis -> GRPO -> evaluation.

``python -m bilight.experiment --config configs/experiment/<name>.yaml --output_dir DIR``; see
`bilight.experiment.runner` for how stages are run, skipped and resumed, and `bilight.experiment.results`
for what is reported.
"""

from bilight.experiment.runner import Experiment, StageSpec, plan, run

__all__ = ["Experiment", "StageSpec", "plan", "run"]
