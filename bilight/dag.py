"""A problem's solution as a DAG of named quantities, task-agnostic.

Each node holds an expression over constants and other nodes. Everything the injector needs is
answered here, independent of the task that built the DAG: which nodes the target needs, which
are distractors, whether a node is *locked* (some parent not computed yet), random topological
orders (for answer augmentation), and evaluation one binary operation at a time (for subgoal
computation). Values are integers or truth values (``/`` must divide exactly); nothing here calls ``eval``.

It sits below `bilight.types` (which holds it in `Problem.dag`) and imports nothing from bilight, so
the nouns and the DAG never import each other.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property

Value = int | bool
"""What a DAG node evaluates to: an integer (arithmetic) or a truth value (logic tasks)."""

BINARY_OPS = ("+", "-", "*", "/", "max", "min", "and", "or")
UNARY_OPS = ("not",)


@dataclass(frozen=True)
class Const:
    """A literal stated in the question (counts as a parent for the analysis table)."""

    value: Value


@dataclass(frozen=True)
class Ref:
    """A reference to another node's value."""

    node: str


@dataclass(frozen=True)
class Op:
    """``op`` applied to ``args``: binary ops fold left over two or more args, ``not`` takes one."""

    op: str
    args: tuple[Expr, ...]

    def __post_init__(self) -> None:
        if self.op in UNARY_OPS and len(self.args) != 1:
            raise ValueError(f"Op {self.op!r} takes one argument, got {len(self.args)}")
        if self.op in BINARY_OPS and len(self.args) < 2:
            raise ValueError(f"Op {self.op!r} takes two or more arguments, got {len(self.args)}")
        if self.op not in BINARY_OPS + UNARY_OPS:
            raise ValueError(f"unknown op {self.op!r}; expected one of {BINARY_OPS + UNARY_OPS}")


Expr = Const | Ref | Op


def apply_op(op: str, a: Value, b: Value | None = None) -> Value:
    """One operation on plain values (the only arithmetic the package performs on problems)."""
    if op == "not":
        return not a
    assert b is not None, f"binary op {op!r} needs two values"
    if op == "+":
        return int(a) + int(b)
    if op == "-":
        return int(a) - int(b)
    if op == "*":
        return int(a) * int(b)
    if op == "/":
        if int(b) == 0 or int(a) % int(b) != 0:
            raise ValueError(f"{a} / {b} is not an exact integer division")
        return int(a) // int(b)
    if op == "max":
        return max(int(a), int(b))
    if op == "min":
        return min(int(a), int(b))
    if op == "and":
        return bool(a) and bool(b)
    if op == "or":
        return bool(a) or bool(b)
    raise ValueError(f"unknown op {op!r}")


def leaves(expr: Expr) -> Iterator[Const | Ref]:
    """The constants and references of an expression, left to right, with repeats (the one DAG walker)."""
    if isinstance(expr, Op):
        for arg in expr.args:
            yield from leaves(arg)
    else:
        yield expr


def refs(expr: Expr) -> Iterator[str]:
    """Node ids referenced by an expression, left to right, with repeats."""
    return (leaf.node for leaf in leaves(expr) if isinstance(leaf, Ref))


def consts(expr: Expr) -> Iterator[Value]:
    """Literal constants of an expression, left to right."""
    return (leaf.value for leaf in leaves(expr) if isinstance(leaf, Const))


def count_ops(expr: Expr) -> int:
    """Number of binary (or unary) operations the expression performs."""
    if isinstance(expr, Op):
        own = 1 if expr.op in UNARY_OPS else len(expr.args) - 1
        return own + sum(count_ops(arg) for arg in expr.args)
    return 0


def evaluate(expr: Expr, values: Mapping[str, Value]) -> Value:
    """Value of an expression given the values of the nodes it references."""
    if isinstance(expr, Const):
        return expr.value
    if isinstance(expr, Ref):
        return values[expr.node]
    args = [evaluate(arg, values) for arg in expr.args]
    if expr.op in UNARY_OPS:
        return apply_op(expr.op, args[0])
    acc = args[0]
    for arg in args[1:]:
        acc = apply_op(expr.op, acc, arg)
    return acc


def operations(expr: Expr, values: Mapping[str, Value]) -> list[tuple[str, Value, Value | None, Value]]:
    """The expression's computation one operation at a time, in evaluation order.

    Returns ``(op, left, right, result)`` tuples (``right`` is None for unary ops); the last
    result is the expression's value. Used for subgoal (one-operation-at-a-time) computation.
    """
    steps: list[tuple[str, Value, Value | None, Value]] = []

    def walk(e: Expr) -> Value:
        if isinstance(e, Const):
            return e.value
        if isinstance(e, Ref):
            return values[e.node]
        args = [walk(arg) for arg in e.args]
        if e.op in UNARY_OPS:
            out = apply_op(e.op, args[0])
            steps.append((e.op, args[0], None, out))
            return out
        acc = args[0]
        for arg in args[1:]:
            out = apply_op(e.op, acc, arg)
            steps.append((e.op, acc, arg, out))
            acc = out
        return acc

    walk(expr)
    return steps


@dataclass(frozen=True)
class Node:
    """A quantity of the problem.

    Attributes:
        id: stable key within the DAG.
        name: how the question and the solution refer to it (e.g. ``"Oak's Lion"``).
        expr: how its value follows from constants and other nodes.
        value: its value (filled by the task; `ProblemDAG.check` recomputes it).
        stated: whether the question states how the node follows from others (False for a
            quantity the problem only implies, e.g. iGSM's category totals).
        statement: how the question states it (the words after "equals"), so a solution can
            restate the condition before the inputs are known; empty when not recorded.
    """

    id: str
    name: str
    expr: Expr
    value: Value
    stated: bool = True
    statement: str = ""

    @property
    def parents(self) -> tuple[str, ...]:
        """Distinct referenced node ids in order of first use."""
        return tuple(dict.fromkeys(refs(self.expr)))

    @property
    def num_parents(self) -> int:
        """Parents for the analysis table: referenced nodes plus stated constants."""
        return len(self.parents) + sum(1 for _ in consts(self.expr))

    @property
    def num_ops(self) -> int:
        return count_ops(self.expr)


@dataclass(frozen=True)
class ProblemDAG:
    """Nodes (necessary and distractor) and the target; ``nodes`` is in a topological order."""

    nodes: tuple[Node, ...]
    target: str

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for node in self.nodes:
            if node.id in seen:
                raise ValueError(f"duplicate node id {node.id!r}")
            missing = [p for p in node.parents if p not in seen]
            if missing:
                raise ValueError(f"node {node.id!r} uses {missing} before they are defined; nodes must be topologically ordered")
            seen.add(node.id)
        if self.target not in seen:
            raise ValueError(f"target {self.target!r} is not a node")

    @cached_property
    def by_id(self) -> dict[str, Node]:
        return {n.id: n for n in self.nodes}

    def node(self, node_id: str) -> Node:
        return self.by_id[node_id]

    @cached_property
    def necessary(self) -> frozenset[str]:
        """The target and all its ancestors."""
        out: set[str] = set()
        stack = [self.target]
        while stack:
            nid = stack.pop()
            if nid not in out:
                out.add(nid)
                stack.extend(self.by_id[nid].parents)
        return frozenset(out)

    @property
    def distractors(self) -> tuple[str, ...]:
        """Stated nodes the target does not need, in DAG order."""
        return tuple(n.id for n in self.nodes if n.id not in self.necessary)

    @property
    def num_ops(self) -> int:
        """Operations needed to compute the target (the problem's difficulty)."""
        return sum(self.by_id[nid].num_ops for nid in self.necessary)

    def is_unlocked(self, node_id: str, known: Iterable[str]) -> bool:
        """True when every parent of the node is already known."""
        known_set = set(known)
        return all(p in known_set for p in self.by_id[node_id].parents)

    def topological_order(self, rng: random.Random | None = None, include_distractors: bool = False) -> tuple[str, ...]:
        """A topological order of the necessary nodes (the stored one, or a uniformly drawn step at a time)."""
        keep = {n.id for n in self.nodes} if include_distractors else set(self.necessary)
        if rng is None:
            return tuple(n.id for n in self.nodes if n.id in keep)
        known: list[str] = []
        remaining = [n.id for n in self.nodes if n.id in keep]
        while remaining:
            ready = [nid for nid in remaining if self.is_unlocked(nid, known)]
            pick = rng.choice(ready)
            known.append(pick)
            remaining.remove(pick)
        return tuple(known)

    def evaluate(self) -> dict[str, Value]:
        """Recompute every node's value from its expression."""
        values: dict[str, Value] = {}
        for node in self.nodes:
            values[node.id] = evaluate(node.expr, values)
        return values

    def check(self) -> None:
        """Raise if a stored value disagrees with its expression."""
        values = self.evaluate()
        for node in self.nodes:
            if values[node.id] != node.value or type(values[node.id]) is not type(node.value):
                raise ValueError(f"node {node.id!r} stores {node.value!r} but evaluates to {values[node.id]!r}")
