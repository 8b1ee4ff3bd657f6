"""`SFTModule`: supervised fine-tuning on (injected) solutions with a completion-only loss.

The loss is the mean next-token cross-entropy over label tokens (completion and EOS; the
prompt too with ``data.mask_prompt: false``), averaged over all label tokens of the batch.
Validation computes the same loss on the held-out in-distribution split and greedy accuracy on
every validation split, judged by the task's verifier.

Logs: ``train/loss``, ``train/tokens_per_sec``, ``val/loss``, ``val/acc_id``, ``val/acc_ood``.
"""

from __future__ import annotations

from typing import Any

import torch
from typing_extensions import override

from bilight.data.collate import IGNORE
from bilight.modules.common import LMModule


class SFTModule(LMModule):
    """Behaviour-injected SFT; all arguments are those of `LMModule`."""

    @override
    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss, _ = self.lm_loss(batch)
        self.log("train/loss", loss, prog_bar=True, batch_size=batch["input_ids"].shape[0])
        self.log("train/tokens_per_sec", self.count_tokens(int(batch["attention_mask"].sum())), prog_bar=True)
        return loss

    def lm_loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, int]:
        """Mean cross-entropy over label tokens, and their number."""
        logits = self.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        labels = batch["labels"][:, 1:]
        n_tokens = int((labels != IGNORE).sum())
        loss = torch.nn.functional.cross_entropy(logits[:, :-1].flatten(0, 1).float(), labels.flatten(), ignore_index=IGNORE)
        return loss, n_tokens

    @override
    def on_train_epoch_start(self) -> None:
        self.reset_speed()

    @override
    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int, dataloader_idx: int = 0) -> None:
        self.evaluate(batch, dataloader_idx, "val")

    @override
    def test_step(self, batch: dict[str, torch.Tensor], batch_idx: int, dataloader_idx: int = 0) -> None:
        self.evaluate(batch, dataloader_idx, "test")

    def evaluate(self, batch: dict[str, torch.Tensor], dataloader_idx: int, prefix: str) -> dict[str, Any]:
        """Loss (in-distribution split) and greedy accuracy of one validation batch."""
        datamodule = self.trainer.datamodule  # type: ignore[attr-defined]
        split = datamodule.eval_split_names()[dataloader_idx]
        size = batch["prompt_ids"].shape[0]
        if split == "val_id":
            loss, _ = self.lm_loss(batch)
            self.log(f"{prefix}/loss", loss, batch_size=size, add_dataloader_idx=False, sync_dist=True)
        texts = self.greedy(batch["prompt_ids"], batch["prompt_mask"])
        correct = self.judge(split, batch["index"], texts)
        name = "acc_id" if split == "val_id" else "acc_ood"
        self.log(f"{prefix}/{name}", correct.mean(), batch_size=size, add_dataloader_idx=False, sync_dist=True, prog_bar=True)
        return {"texts": texts, "correct": correct}
