"""A GRPOModule that records its first update on every rank, for the distributed GRPO test.

Each rank writes ``update_rank{R}.pt`` in the working directory: the policy before the update (a
copy of the Hugging Face model), the rollout batch and advantages it trained on, the learning rate,
and the weights after the optimizer step.
"""

import copy
from pathlib import Path

import torch
from typing_extensions import override

from bilight.modules import GRPOModule
from bilight.types import Rollouts


class RecordingGRPO(GRPOModule):
    @override
    def update(self, rollout: Rollouts, advantages: torch.Tensor) -> dict[str, float]:
        if self.global_step > 0:
            return super().update(rollout, advantages)
        before = copy.deepcopy(self.model)
        lr = float(self.optimizers().param_groups[0]["lr"])  # type: ignore[union-attr]
        stats = super().update(rollout, advantages)
        after = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        record = {"model": before, "rollout": rollout, "advantages": advantages, "lr": lr, "after": after}
        torch.save(record, Path(f"update_rank{self.global_rank}.pt"))
        return stats
