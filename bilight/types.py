"""The nouns every layer shares: problems, their DAGs' solutions, verdicts and rollouts.

Everything here is a frozen dataclass so that a problem or a solution can be hashed, cached and
compared in tests. ``tasks`` and ``injection`` import this module without importing torch: the
tensor record (`Rollouts`) only names ``torch.Tensor`` for type checkers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from bilight.dag import ProblemDAG, Value

if TYPE_CHECKING:
    import torch

__all__ = ["Problem", "ProblemDAG", "Rollouts", "Solution", "Step", "StepKind", "Value", "Verdict"]

StepKind = Literal["regular", "explore", "analysis", "subgoal", "early_solve", "answer"]
"""How a span of a solution came about.

* ``regular``: computes an unlocked node (the plain chain of thought).
* ``explore``: tries a locked node, says it cannot be computed yet and backs off (injected).
* ``analysis``: restates what is known about the node about to be computed (injected).
* ``subgoal``: one operation of a node's computation, written out on its own (injected).
* ``early_solve``: an exploration target that happened to be unlocked, solved ahead of order.
* ``answer``: the closing ``\\boxed{}`` sentence.
"""


@dataclass(frozen=True)
class Problem:
    """One generated (or loaded) problem.

    Attributes:
        task: name of the task family, e.g. ``"igsm"``.
        seed: the task's seed; with ``index`` it determines the problem completely.
        index: position of the problem in the task's stream.
        conditions: the condition sentences, in the order the question states them.
        query: the final question sentence.
        answer: ground-truth value of the target node.
        dag: the solution DAG (necessary nodes, distractors and the target).
        difficulty: number of arithmetic/logic operations needed (iGSM's "op").
    """

    task: str
    seed: int
    index: int
    conditions: tuple[str, ...]
    query: str
    answer: Value
    dag: ProblemDAG
    difficulty: int

    @property
    def question(self) -> str:
        """The prompt text: the conditions, then the question last."""
        return " ".join((*self.conditions, self.query))


@dataclass(frozen=True)
class Step:
    """A span of a rendered solution, tagged by how it came about.

    ``text[start:end]`` of the owning `Solution` is exactly this step's sentence(s).
    """

    kind: StepKind
    node: str | None
    start: int
    end: int


@dataclass(frozen=True)
class Solution:
    """A step-by-step solution text with its tagged spans (in order, non-overlapping)."""

    text: str
    steps: tuple[Step, ...]
    answer: Value

    def spans(self, kind: StepKind) -> list[str]:
        """The text of every step of one kind."""
        return [self.text[s.start : s.end] for s in self.steps if s.kind == kind]


@dataclass(frozen=True)
class Verdict:
    """The verifier's judgement of one completion."""

    correct: bool
    predicted: str | None
    reason: str = ""

    def __bool__(self) -> bool:
        return self.correct


@dataclass(frozen=True)
class Rollouts:
    """Completions of ``B`` prompts, ``G`` each: the one record for every batch of completions.

    One layout: every per-completion field is flat, ``[B*G, ...]``, and rows ``b*G:(b+1)*G`` belong
    to prompt ``b`` (`grouped` views a ``[B*G]`` field as ``[B, G]``). `bilight.rollout.generate`
    fills the token fields; `bilight.rollout.sample_and_judge` adds ``texts``, ``correct`` and
    ``verdicts``; GRPO adds ``rewards``.

    Attributes:
        prompt_ids: ``[B, P]`` long, left-padded prompt tokens.
        prompt_mask: ``[B, P]`` long, 1 on real prompt tokens.
        completion_ids: ``[B*G, T]`` long, right-padded with the pad id; ``T`` is the longest completion.
        completion_mask: ``[B*G, T]`` long, 1 on generated tokens up to and including EOS (or the
            token that completed a stop string), 0 after.
        logprobs: ``[B*G, T]`` float32 log-probs of the chosen tokens under the sampling policy, 0 on padding.
        truncated: ``[B*G]`` bool, True where the budget ran out before EOS or a stop string.
        texts: ``B*G`` decoded completions (without special tokens); empty until decoded.
        correct: ``[B*G]`` float32 0/1 verifier correctness; None until judged.
        verdicts: ``B*G`` verdicts of the judge; empty until judged.
        rewards: ``[B*G]`` float32 total (possibly shaped) reward; None until scored.
        index: ``[B]`` long problem index of each prompt in ``split``; None for prompts of no split.
        split: the split the prompts come from (``""`` when none).
    """

    prompt_ids: torch.Tensor
    prompt_mask: torch.Tensor
    completion_ids: torch.Tensor
    completion_mask: torch.Tensor
    logprobs: torch.Tensor
    truncated: torch.Tensor
    texts: tuple[str, ...] = ()
    correct: torch.Tensor | None = None
    verdicts: tuple[Verdict, ...] = ()
    rewards: torch.Tensor | None = None
    index: torch.Tensor | None = None
    split: str = ""

    @property
    def num_prompts(self) -> int:
        """``B``."""
        return int(self.prompt_ids.shape[0])

    @property
    def group_size(self) -> int:
        """``G``, completions per prompt."""
        return int(self.completion_ids.shape[0]) // max(1, self.num_prompts)

    def grouped(self, values: torch.Tensor | None) -> torch.Tensor:
        """A ``[B*G, ...]`` field viewed as ``[B, G, ...]`` (a missing field is an error)."""
        if values is None:
            raise ValueError("Rollouts: this field is not filled yet (judge or score the rollouts first)")
        return values.view(self.num_prompts, self.group_size, *values.shape[1:])
