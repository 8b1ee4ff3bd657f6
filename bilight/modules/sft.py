"""`SFTModule`: supervised fine-tuning on (injected) solutions with a completion-only loss.

The loss is the mean next-token cross-entropy over label tokens (completion and EOS; the
prompt too with ``data.mask_prompt: false``), averaged over all label tokens of the batch.
Validation computes the same loss on the held-out in-distribution split and greedy accuracy on
every validation split, through `bilight.rollout.sample_and_judge` and the judge the CLI hands over.

Logs: ``train/loss``, ``train/tokens_per_sec``, ``val/loss``, ``val/acc_id``, ``val/acc_ood``.
"""

from __future__ import annotations

import torch
from typing_extensions import override

from bilight.data.collate import IGNORE
from bilight.modules.common import LMModule
from bilight.types import Rollouts


class SFTModule(LMModule):
    """Behaviour-injected SFT; all arguments are those of `LMModule`."""

    @override
    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss = self.lm_loss(batch)
        self.log("train/loss", loss, prog_bar=True, batch_size=batch["input_ids"].shape[0])
        self.log("train/tokens_per_sec", self.count_tokens(int(batch["attention_mask"].sum())), prog_bar=True)
        return loss

    def lm_loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Mean cross-entropy over label tokens."""
        logits = self.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        labels = batch["labels"][:, 1:]
        return torch.nn.functional.cross_entropy(logits[:, :-1].flatten(0, 1).float(), labels.flatten(), ignore_index=IGNORE)

    @override
    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int, dataloader_idx: int = 0) -> None:
        self.evaluate(batch, dataloader_idx, "val")

    def evaluate(self, batch: dict[str, torch.Tensor], dataloader_idx: int, prefix: str) -> Rollouts:
        """Loss (in-distribution split) and greedy accuracy of one validation batch."""
        split = self.eval_split(dataloader_idx)
        if split == "val_id":
            loss = self.lm_loss(batch)
            self.log(f"{prefix}/loss", loss, batch_size=batch["prompt_ids"].shape[0], add_dataloader_idx=False, sync_dist=True)
        rollouts = self.greedy_rollouts(batch, split)
        self.log_accuracy(f"{prefix}/acc_{'id' if split == 'val_id' else 'ood'}", rollouts.grouped(rollouts.correct))
        return rollouts
