"""DyVal-style reasoning tasks built from random DAGs (in the spirit of PromptBench's DyVal, Zhu et al. 2024).

DyVal generates evaluation items from directed acyclic graphs so that difficulty is a dial (number
of nodes) and items cannot leak into pretraining data. Here each item's *solution* is itself a
`ProblemDAG`, so the same behaviour injector (exploration, information analysis, one operation at
a time) writes its step-by-step trace. Five kinds:

* ``arithmetic``: leaves are numbers, inner nodes the sum/difference/product of two earlier nodes;
  what is the value of the last one?
* ``boolean``: leaves are truth values, inner nodes ``and``/``or`` of two earlier nodes or ``not``
  of one; what is the value of the last one?
* ``deductive``: the same graph read as propositions and rules ("if A and B are both true, then C
  is true; otherwise C is false"); is the last proposition true?
* ``reachability``: a random directed graph; is there a path from a source to a target? The trace
  computes ``reach X`` for every node, as the ``or`` of its predecessors' reach values.
* ``max_sum_path``: a weighted DAG; the largest total weight of a path from a source to a target,
  by ``best X = weight X + max(best of predecessors)`` over nodes reachable from the source.

Nodes are named with the NATO alphabet (single words, so a word-level tokenizer learns them).
Answers are integers (``|value| < bound``) or ``True``/``False``; `verify_answer` checks both.
"""

from __future__ import annotations

import random
from typing import Literal

from bilight.dag import Const, Expr, Node, Op, ProblemDAG, Ref, evaluate, refs
from bilight.tasks.base import Task
from bilight.types import Problem

NAMES = [
    "Alfa",
    "Bravo",
    "Charlie",
    "Delta",
    "Echo",
    "Foxtrot",
    "Golf",
    "Hotel",
    "India",
    "Juliett",
    "Kilo",
    "Lima",
    "Mike",
    "November",
    "Oscar",
    "Papa",
    "Quebec",
    "Romeo",
    "Sierra",
    "Tango",
    "Uniform",
    "Victor",
    "Whiskey",
    "Xray",
    "Yankee",
    "Zulu",
]

Kind = Literal["arithmetic", "boolean", "deductive", "reachability", "max_sum_path"]
KINDS: tuple[Kind, ...] = ("arithmetic", "boolean", "deductive", "reachability", "max_sum_path")

_ARITH_WORDS = {"+": "the sum", "-": "the difference", "*": "the product"}


class DyVal(Task):
    """DAG-generated reasoning items of one kind.

    Args:
        kind: ``arithmetic``, ``boolean``, ``deductive``, ``reachability`` or ``max_sum_path``.
        min_nodes: fewest graph nodes per item (inclusive, at least 2).
        max_nodes: most graph nodes per item (inclusive, at most 26).
        seed: stream seed; ``problem(i)`` depends on ``(kind, seed, i)`` only.
        max_const: numbers (arithmetic leaves, path weights) are drawn from ``1..max_const``.
        bound: arithmetic items keep every value within ``|value| < bound``.
    """

    def __init__(
        self, kind: Kind = "arithmetic", min_nodes: int = 4, max_nodes: int = 8, seed: int = 0, max_const: int = 9, bound: int = 1000
    ) -> None:
        self.kind = kind
        self.min_nodes = min_nodes
        self.max_nodes = max_nodes
        self.seed = seed
        self.max_const = max_const
        self.bound = bound
        self.__post_init__()

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"DyVal: unknown kind {self.kind!r}; choose one of {KINDS}")
        if not 2 <= self.min_nodes <= self.max_nodes <= len(NAMES):
            raise ValueError(f"DyVal: need 2 <= min_nodes <= max_nodes <= {len(NAMES)}, got {self.min_nodes}, {self.max_nodes}")
        if self.max_const < 1 or self.bound <= self.max_const:
            raise ValueError(f"DyVal: need 1 <= max_const < bound, got max_const={self.max_const}, bound={self.bound}")

    @property
    def name(self) -> str:  # type: ignore[override]
        return f"dyval_{self.kind}"

    def problem(self, index: int) -> Problem:
        rng = self.rng(index)
        n = rng.randint(self.min_nodes, self.max_nodes)
        names = rng.sample(NAMES, n)
        build = {
            "arithmetic": self._expression,
            "boolean": self._expression,
            "deductive": self._expression,
            "reachability": self._reachability,
            "max_sum_path": self._max_sum_path,
        }[self.kind]
        for _ in range(1000):
            made = build(rng, names)
            if made is not None:
                conditions, query, dag = made
                conditions = list(conditions)
                rng.shuffle(conditions)
                answer = dag.node(dag.target).value
                return Problem(self.name, self.seed, index, tuple(conditions), query, answer, dag, dag.num_ops)
        raise RuntimeError(f"DyVal({self.kind}) could not build item {index} within bound {self.bound}; raise bound or lower max_nodes")

    def vocabulary(self) -> list[str]:
        return [
            " ".join(NAMES),
            "Question: What is the value of ? equals the sum difference product of and or not is True False true false",
            "If are both true, then ; otherwise . is true exactly when either Is",
            "The There an edge from to a path reach best has weight What largest total weight no there",
        ]

    # ------------------------------------------------------------------ expression graphs
    def _expression(self, rng: random.Random, names: list[str]) -> tuple[list[str], str, ProblemDAG] | None:
        """Arithmetic, boolean and deductive items: leaves first, each inner node uses two earlier nodes (one for not)."""
        n = len(names)
        n_leaves = max(2, min(n - 1, rng.randint(2, max(2, n // 2 + 1))))
        logic = self.kind != "arithmetic"
        nodes: list[Node] = []
        values: dict[str, int | bool] = {}
        conditions: list[str] = []
        unused: list[str] = []  # inner nodes prefer still-unused operands, so most nodes are necessary
        for i, name in enumerate(names):
            expr: Expr
            if i < n_leaves:
                expr = Const(rng.random() < 0.5) if logic else Const(rng.randint(1, self.max_const))
            else:
                ops = ("and", "or", "not") if logic else ("+", "-", "*")
                op = rng.choice(ops)
                pool = [m.name for m in nodes]
                need = 1 if op == "not" else 2
                picks = [x for x in unused if x in pool][:need] if rng.random() < 0.8 else []
                rng.shuffle(picks)
                while len(picks) < need:
                    picks.append(rng.choice([x for x in pool if x not in picks]))
                expr = Op(op, tuple(Ref(x) for x in picks))
            value = evaluate(expr, values)
            if not logic and abs(int(value)) >= self.bound:
                return None
            values[name] = value
            nodes.append(Node(name, name, expr, value))
            unused = [x for x in unused if x not in set(refs(expr))] + [name]
            conditions.append(self._statement(name, expr))
        target = names[-1]
        dag = ProblemDAG(tuple(nodes), target)
        if self.kind == "deductive":
            return conditions, f"Question: Is {target} true?", dag
        return conditions, f"Question: What is the value of {target}?", dag

    def _statement(self, name: str, expr: Expr) -> str:
        if isinstance(expr, Const):
            if self.kind == "deductive":
                return f"{name} is {'true' if expr.value else 'false'}."
            return f"The value of {name} is {expr.value}."
        assert isinstance(expr, Op)
        args = list(refs(expr))
        if self.kind == "arithmetic":
            return f"The value of {name} equals {_ARITH_WORDS[expr.op]} of {args[0]} and {args[1]}."
        if self.kind == "boolean":
            if expr.op == "not":
                return f"The value of {name} equals not {args[0]}."
            return f"The value of {name} equals {args[0]} {expr.op} {args[1]}."
        if expr.op == "not":
            return f"{name} is true exactly when {args[0]} is false."
        if expr.op == "and":
            return f"If {args[0]} and {args[1]} are both true, then {name} is true; otherwise {name} is false."
        return f"If either {args[0]} or {args[1]} is true, then {name} is true; otherwise {name} is false."

    # ------------------------------------------------------------------ graph search
    def _random_edges(self, rng: random.Random, names: list[str]) -> list[tuple[str, str]]:
        """A random DAG over ``names`` (edges point forward in the list), about 1.5 edges per node."""
        n = len(names)
        edges = {(names[i], names[j]) for i in range(n) for j in range(i + 1, n) if rng.random() < min(1.0, 3.0 / n)}
        return sorted(edges, key=lambda e: (names.index(e[0]), names.index(e[1])))

    def _reachability(self, rng: random.Random, names: list[str]) -> tuple[list[str], str, ProblemDAG] | None:
        edges = self._random_edges(rng, names)
        source = names[rng.randrange(0, max(1, len(names) // 2))]
        target = rng.choice([x for x in names[names.index(source) + 1 :]])
        preds = {x: [a for a, b in edges if b == x] for x in names}
        nodes: list[Node] = []
        values: dict[str, int | bool] = {}
        for x in names:
            expr: Expr
            if x == source:
                expr = Const(True)
            elif not preds[x]:
                expr = Const(False)
            elif len(preds[x]) == 1:
                expr = Ref(_reach(preds[x][0]))
            else:
                expr = Op("or", tuple(Ref(_reach(p)) for p in preds[x]))
            values[_reach(x)] = evaluate(expr, values)
            nodes.append(Node(_reach(x), f"reach {x}", expr, values[_reach(x)]))
        conditions = [f"There is an edge from {a} to {b}." for a, b in edges] or [f"There is no edge from {source} to {target}."]
        dag = ProblemDAG(tuple(nodes), _reach(target))
        return conditions, f"Question: Is there a path from {source} to {target}?", dag

    def _max_sum_path(self, rng: random.Random, names: list[str]) -> tuple[list[str], str, ProblemDAG] | None:
        edges = self._random_edges(rng, names)
        weights = {x: rng.randint(1, self.max_const) for x in names}
        source = names[0]
        reachable = {source}
        for a, b in edges:  # edges are sorted by source position, so one pass finds every reachable node
            if a in reachable:
                reachable.add(b)
        if len(reachable) < 2:
            return None
        target = rng.choice(sorted(reachable - {source}, key=names.index))
        nodes: list[Node] = []
        values: dict[str, int | bool] = {}
        for x in names:
            if x not in reachable:
                continue
            preds = [a for a, b in edges if b == x and a in reachable]
            expr: Expr
            if x == source:
                expr = Const(weights[x])
            elif len(preds) == 1:
                expr = Op("+", (Const(weights[x]), Ref(_best(preds[0]))))
            else:
                expr = Op("+", (Const(weights[x]), Op("max", tuple(Ref(_best(p)) for p in preds))))
            values[_best(x)] = evaluate(expr, values)
            nodes.append(Node(_best(x), f"best {x}", expr, values[_best(x)]))
        conditions = [f"{x} has weight {weights[x]}." for x in names] + [f"There is an edge from {a} to {b}." for a, b in edges]
        dag = ProblemDAG(tuple(nodes), _best(target))
        return conditions, f"Question: What is the largest total weight of a path from {source} to {target}?", dag


def _reach(x: str) -> str:
    return f"reach:{x}"


def _best(x: str) -> str:
    return f"best:{x}"
