"""The nouns every layer shares: problems, their DAGs' solutions, verdicts and rollout batches.

Everything here is a frozen dataclass so that a problem or a solution can be hashed, cached and
compared in tests. ``tasks`` and ``injection`` import this module without importing torch: the
tensor record (`RolloutBatch`) only names ``torch.Tensor`` for type checkers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import torch

    from bilight.tasks.dag import ProblemDAG

Value = int | bool
"""What a DAG node evaluates to: an integer (arithmetic) or a truth value (logic tasks)."""

StepKind = Literal["regular", "explore", "analysis", "subgoal", "early_solve", "answer"]
"""How a span of a solution came about.

* ``regular``: computes an unlocked node (the plain chain of thought).
* ``explore``: tries a locked node, says it cannot be computed yet and backs off (injected).
* ``analysis``: restates what is known about the node about to be computed (injected).
* ``subgoal``: one operation of a node's computation, written out on its own (injected).
* ``early_solve``: an exploration target that happened to be unlocked, solved ahead of order.
* ``answer``: the closing ``\\boxed{}`` sentence.
"""

STEP_KINDS: tuple[StepKind, ...] = ("regular", "explore", "analysis", "subgoal", "early_solve", "answer")


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
class RolloutBatch:
    """A batch of B prompts with G sampled completions each (a GRPO group per prompt).

    Attributes:
        prompt_ids: ``[B, P]`` left-padded prompt tokens.
        prompt_mask: ``[B, P]`` 1 on real prompt tokens.
        completion_ids: ``[B*G, T]`` right-padded completions; rows ``g*G:(g+1)*G`` belong to prompt ``g``.
        completion_mask: ``[B*G, T]`` 1 on generated tokens up to and including EOS.
        old_logprobs: ``[B*G, T]`` token log-probs under the policy that sampled them.
        rewards: ``[B, G]`` total (possibly shaped) reward.
        correct: ``[B, G]`` binary verifier correctness, kept apart from shaped rewards.
        truncated: ``[B*G]`` True where generation hit ``max_new_tokens`` without EOS.
        texts: decoded completions, ``B*G`` strings.
    """

    prompt_ids: torch.Tensor
    prompt_mask: torch.Tensor
    completion_ids: torch.Tensor
    completion_mask: torch.Tensor
    old_logprobs: torch.Tensor
    rewards: torch.Tensor
    correct: torch.Tensor
    truncated: torch.Tensor
    texts: tuple[str, ...] = field(default=())
