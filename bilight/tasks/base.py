"""The task interface: a seeded stream of problems with their own verifier.

A task is a plain class whose typed ``__init__`` is its config schema (so ``LightningCLI`` can
build it from YAML with ``class_path``/``init_args``). ``problem(index)`` is a pure function of
``(seed, index)``: it seeds a fresh RNG from both, so any item can be regenerated in isolation,
on any rank, in any order.
"""

from __future__ import annotations

import copy
import random
from abc import ABC, abstractmethod
from typing import Any

from bilight.tasks.verify import verify_answer
from bilight.types import Problem, Verdict


class Task(ABC):
    """A family of problems whose solutions are DAGs with verifiable answers."""

    name: str = "task"
    seed: int

    @abstractmethod
    def problem(self, index: int) -> Problem:
        """The problem at ``index`` of this task's stream (deterministic)."""

    def verify(self, problem: Problem, completion: str) -> Verdict:
        """Judge a completion: its first ``\\boxed{}`` must equal the answer exactly."""
        return verify_answer(completion, problem.answer)

    def vocabulary(self) -> list[str]:
        """Text that covers every word the task can write (used to build a task tokenizer)."""
        return []

    def rng(self, index: int) -> random.Random:
        """A fresh RNG for one item, seeded from (task name, seed, index) only."""
        return random.Random(f"{self.name}:{self.seed}:{index}")

    def replace(self, **changes: Any) -> Task:
        """A copy with some constructor arguments changed (e.g. another seed for a held-out split)."""
        out = copy.copy(self)
        for key, value in changes.items():
            if not hasattr(out, key):
                raise AttributeError(f"{type(self).__name__} has no field {key!r}")
            setattr(out, key, value)
        out.__post_init__()
        return out

    def __post_init__(self) -> None:  # noqa: B027 - an optional hook, not an abstract method
        """Validate fields; subclasses call it at the end of ``__init__``."""

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({fields})"
