"""Tiny, fast stand-ins for tests and notebooks: a toy task, its tokenizer, a random causal LM.

Everything is built in code (no hub access). The toy task is iGSM with 1-2 operations and no
distractors; the model is a 2-layer Llama with hidden size 32 (about 30k parameters).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from transformers import PreTrainedModel, PreTrainedTokenizerBase

from bilight.data.datamodule import BilightDataModule
from bilight.data.judge import Judge
from bilight.data.tokenizer import build_task_tokenizer
from bilight.injection.writer import VOCABULARY
from bilight.modules.common import build_model
from bilight.tasks import IGSM
from bilight.types import Verdict

TINY_MODEL: dict[str, Any] = {"hidden_size": 32, "num_layers": 2, "num_heads": 2, "intermediate_size": 64}


def tiny_task(seed: int = 0) -> IGSM:
    return IGSM(min_ops=1, max_ops=2, seed=seed, max_distractors=0)


def tiny_tokenizer() -> PreTrainedTokenizerBase:
    return build_task_tokenizer([*tiny_task().vocabulary(), VOCABULARY, "\nAnswer:"])


def tiny_model(tokenizer: PreTrainedTokenizerBase | None = None, seed: int = 0) -> PreTrainedModel:
    return build_model(tokenizer or tiny_tokenizer(), seed=seed, **TINY_MODEL)


def tiny_datamodule(**overrides: Any) -> BilightDataModule:
    """A data module on the toy task with small splits and no disk cache."""
    kwargs: dict[str, Any] = {
        "task": tiny_task(),
        "ood_task": IGSM(min_ops=3, max_ops=3, seed=1, max_distractors=0),
        "injection": "bridge",
        "num_train": 32,
        "num_val": 8,
        "num_rl": 32,
        "num_probe": 4,
        "batch_size": 4,
        "eval_batch_size": 4,
        "cache_dir": None,
    }
    kwargs.update(overrides)
    return BilightDataModule(**kwargs)


class StandInJudge(Judge):
    """A judge with the data module's problems and a stand-in verifier ``verdict(index, text) -> bool``.

    A random tiny model is never right, so tests of the diagnostics replace the verifier to make
    rollout accuracy vary across prompts and samples.
    """

    def __init__(self, judge: Judge, verdict: Callable[[int, str], bool]) -> None:
        super().__init__(judge.tasks, judge.sizes, judge.prompt_template, judge.eval_splits, judge.test_splits)
        self.verdict = verdict

    def __call__(self, split: str, indices: Sequence[int], texts: Sequence[str]) -> list[Verdict]:
        return [Verdict(correct=bool(self.verdict(int(i), t)), predicted=None) for i, t in zip(indices, texts, strict=True)]
