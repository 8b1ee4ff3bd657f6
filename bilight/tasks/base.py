"""The task interface: a seeded stream of problems with their own verifier, and its splits.

A task is a plain class whose typed ``__init__`` is its config schema (so ``LightningCLI`` can
build it from YAML with ``class_path``/``init_args``). ``problem(index)`` is a pure function of
``(seed, index)``: it seeds a fresh RNG from both, so any item can be regenerated in isolation,
on any rank, in any order.

Splits are the task's own business: ``task.split("val_id")`` is a task of the same kind restricted
to that split. A generator shifts its seed by `SEED_OFFSETS` (another stream); a task backed by a
file overrides `Task.split` to hand out disjoint rows. A seed shift alone does not guarantee that a
held-out problem never equals a training one (small problems collide by chance), so the data module
wraps every held-out split in `HeldOut`, which skips problems whose question text is a training
question: disjointness is by content, and a test checks it for every task.
"""

from __future__ import annotations

import copy
import hashlib
import random
from abc import ABC, abstractmethod
from collections.abc import Sized
from pathlib import Path
from typing import Any, Literal

from bilight.system import write_atomically
from bilight.tasks.verify import verify_answer
from bilight.types import Problem, Verdict

SplitName = Literal["train", "val_id", "val_ood", "rl", "probe", "test"]
SPLIT_NAMES: tuple[SplitName, ...] = ("train", "val_id", "val_ood", "rl", "probe", "test")
SEED_OFFSETS: dict[str, int] = {"train": 0, "val_id": 1_000_003, "val_ood": 0, "rl": 2_000_003, "probe": 3_000_017, "test": 4_000_037}
"""Seed shift of each split of a generator. ``val_ood`` is a split of the OOD task, whose own seed
already sets it apart, hence 0; the values are fixed: changing one changes every held-out number."""


class Task(ABC):
    """A family of problems whose solutions are DAGs with verifiable answers."""

    name: str = "task"
    seed: int

    @abstractmethod
    def problem(self, index: int) -> Problem:
        """The problem at ``index`` of this task's stream (deterministic)."""

    def split(self, name: SplitName) -> Task:
        """This task restricted to split ``name``; for a generator, the stream of seed ``seed + SEED_OFFSETS[name]``."""
        return self.replace(seed=self.seed + SEED_OFFSETS[check_split(name)])

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
        """A copy with some constructor arguments changed (e.g. another seed)."""
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


def check_split(name: str) -> SplitName:
    """``name`` if it is a split name, else a ValueError listing them."""
    if name not in SPLIT_NAMES:
        raise ValueError(f"unknown split {name!r}; splits are {', '.join(SPLIT_NAMES)}")
    return name  # type: ignore[return-value]


class Questions:
    """The question texts of problems ``0..size-1`` of ``task``, computed once on first use (shared by the held-out splits).

    Generating 40,000 problems to learn their questions takes tens of seconds, and every GRPO, evaluation or
    diagnosis process needs them; with ``cache_dir`` a 16-byte digest of each question is kept on disk, under a key
    of the task, the size and a few questions as the current code writes them (a changed generator never reuses a
    stale file). The file is written to a temporary name and renamed, so a reader sees all of it or none.
    """

    def __init__(self, task: Task, size: int, cache_dir: str | Path | None = None) -> None:
        self.task, self.size, self.cache_dir = task, size, cache_dir
        self._digests: frozenset[bytes] | None = None

    @staticmethod
    def digest(question: str) -> bytes:
        return hashlib.blake2b(question.encode(), digest_size=16).digest()

    def _path(self) -> Path | None:
        if self.cache_dir is None or self.size == 0:
            return None
        probes = [self.task.problem(i).question for i in sorted({0, self.size // 2, self.size - 1})]
        key = repr((repr(self.task), self.size, probes))
        return Path(self.cache_dir) / f"questions-{hashlib.sha256(key.encode()).hexdigest()[:16]}.bin"

    def _load(self) -> frozenset[bytes]:
        path = self._path()
        if path is not None and path.exists() and path.stat().st_size == 16 * self.size:
            raw = path.read_bytes()
            return frozenset(raw[i : i + 16] for i in range(0, len(raw), 16))
        digests = [self.digest(self.task.problem(i).question) for i in range(self.size)]
        if path is not None:
            write_atomically(path, b"".join(digests))
        return frozenset(digests)

    def __contains__(self, question: object) -> bool:
        if not isinstance(question, str):
            return False
        if self._digests is None:
            self._digests = self._load()
        return self.digest(question) in self._digests

    def __repr__(self) -> str:
        return f"{self.task!r}[:{self.size}]"


class HeldOut(Task):
    """The problems of ``task`` whose question is not one of ``exclude``, in stream order.

    ``problem(i)`` is the ``i``-th such problem (its ``index`` field stays the underlying one), so a
    held-out split never shows a training question, and is the plain split wherever nothing collides.

    Args:
        task: the split task to filter.
        exclude: the training questions.
    """

    def __init__(self, task: Task, exclude: Questions) -> None:
        self.task, self.exclude = task, exclude
        self.name, self.seed = task.name, task.seed
        self._order: list[int] = []  # underlying index of each held-out position found so far
        self._next = 0

    def problem(self, index: int) -> Problem:
        limit = len(self.task) if isinstance(self.task, Sized) else None
        while len(self._order) <= index:
            if limit is not None and self._next >= limit:
                raise IndexError(f"{self.task!r}: only {len(self._order)} problems are not training problems, asked for #{index}")
            if self.task.problem(self._next).question not in self.exclude:
                self._order.append(self._next)
            self._next += 1
        return self.task.problem(self._order[index])

    def verify(self, problem: Problem, completion: str) -> Verdict:
        return self.task.verify(problem, completion)

    def vocabulary(self) -> list[str]:
        return self.task.vocabulary()

    def split(self, name: SplitName) -> Task:
        raise TypeError("HeldOut is already a split; split the underlying task")

    def __len__(self) -> int:
        if not isinstance(self.task, Sized):
            raise TypeError(f"{self.task!r} is an endless stream")
        return sum(1 for i in range(len(self.task)) if self.task.problem(i).question not in self.exclude)

    def __repr__(self) -> str:
        return f"HeldOut({self.task!r}, exclude={self.exclude!r})"
