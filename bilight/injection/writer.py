"""Writes a step-by-step solution of a DAG problem under an injection policy, tagging every span.

Task-agnostic: it reads only the DAG (node names, expressions, values, the target). The plain
chain of thought visits the necessary nodes in a topological order, one ``Define ... so ...``
sentence per node. Injection adds, per the policy:

* exploration: after a successful step (never before the first, never after the last), try a
  node not yet computed. If some parent is unknown the attempt is written and abandoned
  (``explore``); if the node happens to be unlocked it is solved early (``early_solve``).
* exploitation: before computing a node, restate what is known about its inputs
  (``analysis``, probability by number of parents), and compute a multi-operation node one
  operation at a time (``subgoal``).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from string import ascii_lowercase
from typing import TypeVar

from bilight.dag import Const, Expr, Node, ProblemDAG, Ref, consts, operations
from bilight.injection.policy import InjectionPolicy
from bilight.tasks.verify import format_value
from bilight.types import Problem, Solution, Step, StepKind, Value

_PRECEDENCE = {"or": 1, "and": 2, "+": 3, "-": 3, "*": 4, "/": 4}
VOCABULARY = (
    "Define as ; so = . So the answer is \\boxed{ } Try : it needs , which is not known yet ; go back . "
    "To find , use and ( ) + - * max min not True False First Then"
)


def _value_text(value: Value) -> str:
    text = format_value(value)
    return f"({text})" if text.startswith("-") else text


def render(expr: Expr, leaf: dict[str, str], parent_prec: int = 0, right: bool = False) -> str:
    """Infix text of an expression, node references shown through ``leaf`` (variables or values)."""
    if isinstance(expr, Const):
        return _value_text(expr.value)
    if isinstance(expr, Ref):
        return leaf[expr.node]
    if expr.op == "not":
        return f"not {render(expr.args[0], leaf, 5)}"
    if expr.op in ("max", "min"):
        return f"{expr.op}(" + ", ".join(render(a, leaf) for a in expr.args) + ")"
    prec = _PRECEDENCE[expr.op]
    parts = [render(a, leaf, prec, right=i > 0) for i, a in enumerate(expr.args)]
    text = f" {expr.op} ".join(parts)
    needs_parens = prec < parent_prec or (right and prec == parent_prec)
    return f"({text})" if needs_parens else text


def _op_text(op: str, a: Value, b: Value | None, out: Value) -> str:
    if b is None:
        return f"{op} {_value_text(a)} = {_value_text(out)}"
    if op in ("max", "min"):
        return f"{op}({_value_text(a)}, {_value_text(b)}) = {_value_text(out)}"
    return f"{_value_text(a)} {op} {_value_text(b)} = {_value_text(out)}"


@dataclass
class _Doc:
    """Accumulates sentences with their spans."""

    parts: list[str] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    length: int = 0

    def add(self, kind: StepKind, node: str | None, text: str) -> None:
        if self.parts:
            self.parts.append(" ")
            self.length += 1
        self.steps.append(Step(kind, node, self.length, self.length + len(text)))
        self.parts.append(text)
        self.length += len(text)

    def text(self) -> str:
        return "".join(self.parts)


class _Writer:
    def __init__(self, dag: ProblemDAG, policy: InjectionPolicy, rng: random.Random) -> None:
        self.dag, self.policy, self.rng = dag, policy, rng
        self.doc = _Doc()
        self.known: dict[str, Value] = {}
        self.var: dict[str, str] = {}

    def analysis(self, node: Node) -> None:
        parts = [f"{self.dag.node(p).name} ({self.var[p]} = {_value_text(self.known[p])})" for p in node.parents]
        parts += [_value_text(v) for v in consts(node.expr)]
        self.doc.add("analysis", node.id, f"To find {node.name}, use " + " and ".join(parts) + ".")

    def compute(self, node: Node, kind: StepKind) -> None:
        if self.rng.random() < self.policy.analysis_prob(node.num_parents):
            self.analysis(node)
        var = ascii_lowercase[len(self.var) % 26] + ("" if len(self.var) < 26 else str(len(self.var) // 26))
        self.var[node.id] = var
        ops = operations(node.expr, self.known)
        if not ops:  # a stated constant, or a copy of another node
            value_text = render(node.expr, {p: f"{self.var[p]} = {_value_text(self.known[p])}" for p in node.parents})
            self.doc.add(kind, node.id, f"Define {node.name} as {var}; so {var} = {value_text}.")
        elif self.policy.detailed and len(ops) > 1:
            self.doc.add(kind, node.id, f"Define {node.name} as {var}; so {var} = {render(node.expr, self.var)}.")
            for op, a, b, out in ops:
                self.doc.add("subgoal", node.id, _op_text(op, a, b, out) + ".")
            self.doc.add(kind, node.id, f"So {var} = {_value_text(node.value)}.")
        else:
            with_vars = render(node.expr, self.var)
            with_values = render(node.expr, {p: _value_text(self.known[p]) for p in node.parents})
            chain = " = ".join(dict.fromkeys((with_vars, with_values, _value_text(node.value))))  # no repeated links
            self.doc.add(kind, node.id, f"Define {node.name} as {var}; so {var} = {chain}.")
        self.known[node.id] = node.value

    def explore(self, later: list[str]) -> None:
        distractors = [d for d in self.dag.distractors if d not in self.known]
        if distractors and self.rng.random() < self.policy.explore_distractor_share:
            target = self.rng.choice(distractors)
        elif later:
            target = self.rng.choice(later)
        else:
            return
        node = self.dag.node(target)
        missing = [p for p in node.parents if p not in self.known]
        if missing:
            names = " and ".join(self.dag.node(p).name for p in missing)
            self.doc.add("explore", target, f"Try {node.name}: it needs {names}, which is not known yet; go back.")
        elif self.policy.early_solve:
            self.compute(node, "early_solve")

    def write(self, order: tuple[str, ...]) -> Solution:
        for i, nid in enumerate(order):
            if nid in self.known:  # solved early by an exploration attempt
                continue
            self.compute(self.dag.node(nid), "regular")
            later = [n for n in order[i + 1 :] if n not in self.known]
            if later and self.policy.explore_p > 0 and self.rng.random() < self.policy.explore_p:
                self.explore(later)
        answer = self.known[self.dag.target]
        self.doc.add("answer", self.dag.target, f"So the answer is \\boxed{{{format_value(answer)}}}.")
        return Solution(text=self.doc.text(), steps=tuple(self.doc.steps), answer=answer)


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
