"""Writes a step-by-step solution of a DAG problem under an injection policy, tagging every span.

Task-agnostic: it reads only the DAG (node names, expressions, values, statements, the target).
The plain chain of thought visits the necessary nodes in a topological order, one computation
per node. Injection adds, per the policy, with the BRIDGE authors' rules:

* exploration: right after a successful step, with probability ``explore_p``, while the next
  node is not the last one, try a node: a distractor (``explore_distractor_share``) or a later
  necessary node other than the next one. A node already known is skipped and the coin tossed
  again; a locked node (some input unknown) is written as a failed attempt (``explore``) and the
  next toss waits for a success; an unlocked one is solved early (``early_solve``).
* exploitation: before computing a stated node with at least one input that is another node
  (never an implied total, never a plain number), and before a failed attempt at one, restate
  its condition as the question words it (``analysis``, probability by number of inputs, a stated
  number counting); in detailed mode a computation is one chain reduced one operation at a time
  (``x = 3 * (a + b) = 3 * (5 + 2) = 3 * 7 = 21``).

The wording is the policy's ``style`` (`bilight.injection.wording`); the decisions above draw from
the same RNG in both styles, so a compact and a reference solution make the same moves.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from bilight.dag import UNARY_OPS, Const, Expr, Node, Op, ProblemDAG, Ref, apply_op, evaluate
from bilight.injection.policy import InjectionPolicy
from bilight.injection.wording import VOCABULARY, Wording, render, value_text, wording
from bilight.tasks.verify import format_value
from bilight.types import Problem, Solution, Step, StepKind, Value

__all__ = ["VOCABULARY", "expand", "reductions", "render", "write_solution"]

_MAX_SKIPS = 100  # consecutive skipped exploration targets before the next regular step is taken anyway


def reductions(expr: Expr, values: dict[str, Value]) -> list[str]:
    """The expression with values plugged in, then reduced one operation at a time, down to its value.

    Innermost first, left to right: ``3 * (5 + 2)``, ``3 * 7``, ``21``. A constant or a copy gives
    just its value.
    """
    current: Expr = _plug(expr, values)
    chain = [render(current, {})]
    while isinstance(current, Op):
        current = _reduce_once(current)
        chain.append(render(current, {}))
    return chain


def _plug(expr: Expr, values: dict[str, Value]) -> Expr:
    if isinstance(expr, Ref):
        return Const(values[expr.node])
    if isinstance(expr, Op):
        return Op(expr.op, tuple(_plug(a, values) for a in expr.args))
    return expr


def _reduce_once(expr: Op) -> Expr:
    """``expr`` with its leftmost innermost operation done (an n-ary sum folds its first two terms)."""
    for i, arg in enumerate(expr.args):
        if isinstance(arg, Op):
            return Op(expr.op, (*expr.args[:i], _reduce_once(arg), *expr.args[i + 1 :]))
    values = [a.value for a in expr.args if isinstance(a, Const)]
    if expr.op in UNARY_OPS:
        return Const(apply_op(expr.op, values[0]))
    folded = Const(apply_op(expr.op, values[0], values[1]))
    return folded if len(expr.args) == 2 else Op(expr.op, (folded, *expr.args[2:]))


@dataclass
class _Doc:
    """Accumulates sentences with their spans."""

    parts: list[str] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    length: int = 0

    def add(self, kind: StepKind, node: str | None, text: str, sep: str = " ") -> None:
        if self.parts:
            self.parts.append(sep)
            self.length += len(sep)
        self.steps.append(Step(kind, node, self.length, self.length + len(text)))
        self.parts.append(text)
        self.length += len(text)

    def lead(self, text: str) -> None:
        """Untagged opening text (a style's preamble)."""
        self.parts.append(text)
        self.length += len(text)

    def text(self) -> str:
        return "".join(self.parts)


class _Writer:
    def __init__(self, dag: ProblemDAG, policy: InjectionPolicy, rng: random.Random) -> None:
        self.dag, self.policy, self.rng = dag, policy, rng
        self.words: Wording = wording(policy.style, random.Random(rng.getrandbits(32)), [n.id for n in dag.nodes])
        self.doc = _Doc()
        self.known: dict[str, Value] = {}

    def _analysis(self, node: Node) -> str | None:
        """The restated condition, when this node gets one (stated, fed by another node, coin)."""
        if not node.stated or not node.parents or self.rng.random() >= self.policy.analysis_prob(node.num_parents):
            return None
        names = {p: self.dag.node(p).name for p in node.parents}
        return self.words.analysis(node, node.statement or render(node.expr, names))

    def _emit(self, kind: StepKind, node: Node, pieces: list[tuple[str, str]]) -> None:
        """Pieces are (role, text): role ``analysis`` gets its own span, the others ``kind``."""
        first = True
        for role, text in pieces:
            self.doc.add("analysis" if role == "analysis" else kind, node.id, text, self.words.sep if first else " ")
            first = False

    def compute(self, node: Node, kind: StepKind) -> None:
        analysis = self._analysis(node)
        with_vars = render(node.expr, {p: self.words.var(p) for p in node.parents})
        chain = reductions(node.expr, self.known) if self.policy.detailed else _short(node.expr, self.known)
        self._emit(kind, node, self.words.compute(node, with_vars, chain, analysis))
        self.known[node.id] = node.value

    def attempt(self) -> str:
        """One exploration toss: ``skip`` (target known), ``fail``, ``early`` or ``none``."""
        distractors = self.dag.distractors
        later = self._later
        if distractors and self.rng.random() < self.policy.explore_distractor_share:
            target = self.rng.choice(distractors)
        else:
            target = self.rng.choice(later)
        if target in self.known:
            return "skip"
        node = self.dag.node(target)
        missing = [p for p in node.parents if p not in self.known]
        if not missing:
            if not self.policy.early_solve:
                return "skip"
            self.compute(node, "early_solve")
            return "early"
        analysis = self._analysis(node)
        self._emit("explore", node, self.words.fail(node, [self.dag.node(p).name for p in missing], analysis))
        return "fail"

    def write(self, order: tuple[str, ...]) -> Solution:
        preamble = self.words.preamble()
        if preamble:
            self.doc.lead(preamble)
        i, last_ok, skips = 0, False, 0
        while i < len(order):
            if 0 < i < len(order) - 1 and last_ok and skips < _MAX_SKIPS and self.rng.random() < self.policy.explore_p:
                self._later = order[i + 1 :]
                outcome = self.attempt()
                skips = skips + 1 if outcome == "skip" else 0
                last_ok = outcome != "fail"
                continue
            skips = 0
            if order[i] not in self.known:
                self.compute(self.dag.node(order[i]), "regular")
                last_ok = True
            i += 1
        answer = self.known[self.dag.target]
        self.doc.add("answer", self.dag.target, self.words.answer(format_value(answer)), self.words.sep)
        return Solution(text=self.doc.text(), steps=tuple(self.doc.steps), answer=answer)


def _short(expr: Expr, values: dict[str, Value]) -> list[str]:
    """Values plugged in, then the result (one link when they read the same)."""
    plugged, result = render(_plug(expr, values), {}), value_text(evaluate(expr, values))
    return [plugged] if plugged == result else [plugged, result]


def write_solution(problem: Problem, policy: InjectionPolicy, rng: random.Random, order: tuple[str, ...] | None = None) -> Solution:
    """One solution of ``problem`` under ``policy``; ``order`` defaults to the DAG's own topological order."""
    return _Writer(problem.dag, policy, rng).write(order or problem.dag.topological_order())


def expand(problem: Problem, policy: InjectionPolicy, rng: random.Random) -> list[tuple[str, Solution]]:
    """The SFT rows a problem yields: ``(question, solution)`` pairs, several when augmenting.

    The first row is always the original question with its solution in the DAG's own order.
    ``augment="answer"`` adds solutions in other random topological orders of the necessary nodes
    (the asked node is last by construction: every other necessary node is its ancestor), distinct
    from the rows before as long as the DAG has enough orders. ``augment="question"`` adds
    reshufflings of the condition sentences, likewise distinct while the sentences allow. Both
    keep ``policy``'s injection knobs, so e.g. bridge with answer augmentation composes.
    """
    rows = [(problem.question, write_solution(problem, policy, rng))]
    if policy.copies == 1 or policy.augment == "none":
        return rows
    if policy.augment == "answer":
        seen = {problem.dag.topological_order()}
        for _ in range(policy.copies - 1):
            order = _fresh(lambda: problem.dag.topological_order(rng), seen)
            rows.append((problem.question, write_solution(problem, policy, rng, order)))
    else:
        seen_q = {problem.conditions}
        for _ in range(policy.copies - 1):
            conditions = _fresh(lambda: tuple(rng.sample(problem.conditions, len(problem.conditions))), seen_q)
            rows.append((" ".join((*conditions, problem.query)), write_solution(problem, policy, rng)))
    return rows


_T = TypeVar("_T")


def _fresh(draw: Callable[[], _T], seen: set[_T], tries: int = 20) -> _T:
    """A draw not seen before when one turns up within ``tries`` (small DAGs may have too few), recorded in ``seen``."""
    value = draw()
    for _ in range(tries):
        if value not in seen:
            break
        value = draw()
    seen.add(value)
    return value
