"""iGSM-style word problems (Ye et al., "Physics of Language Models 2.1", as varied by BRIDGE).

A problem lives in a *structure graph*: four layers of items from one of three hierarchies
(e.g. zoo -> enclosure -> animal -> bone), with edges between consecutive layers. Quantities:

* **instance** ``b per a`` for an edge ``a -> b``: how many ``b`` each ``a`` holds. Stated in the
  question, either as a number or from other quantities ("equals", "k more than", "k times",
  "the sum of", "the difference of").
* **abstract** ``Category per a``: how many items of a lower layer each ``a`` holds in total.
  Never stated; implied by the hierarchy:
  ``Animal per Oak = sum over enclosures e of Oak of (e per Oak) * (Animal per e)``.

The dependency graph is grown top-down from the asked quantity with an operation budget drawn
low-skewed (the minimum of two uniform draws, as in iGSM), then exact op count is enforced by
rejection. Distractor statements (unneeded instance quantities) are added, the condition
sentences shuffled, and the question comes last. Values are plain integers with
``|value| < bound`` for every quantity; zero answers are down-sampled in harder sets.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from bilight.tasks.base import Task
from bilight.tasks.dag import Const, Expr, Node, Op, ProblemDAG, Ref, evaluate
from bilight.types import Problem

# Three hierarchies of four layers: (category word, item words). Items are single words so that a
# quantity's name is three tokens ("Lion per Oak"); multi-token names halve what a tiny model learns.
HIERARCHIES: tuple[tuple[tuple[str, tuple[str, ...]], ...], ...] = (
    (
        ("District", ("Oak", "Pine", "Elm", "Ash", "Birch", "Cedar", "Maple", "Willow")),
        ("Market", ("Fresh", "Daily", "Corner", "Family", "Prime", "Value", "Green", "Royal")),
        ("Product", ("Bread", "Cake", "Soup", "Pie", "Salad", "Pizza", "Pasta", "Curry")),
        ("Ingredient", ("Salt", "Sugar", "Flour", "Egg", "Butter", "Milk", "Rice", "Honey")),
    ),
    (
        ("Zoo", ("North", "South", "East", "West", "River", "Lake", "Hill", "Bay")),
        ("Enclosure", ("Jungle", "Desert", "Arctic", "Swamp", "Forest", "Meadow", "Canyon", "Island")),
        ("Animal", ("Lion", "Tiger", "Zebra", "Bear", "Wolf", "Fox", "Owl", "Camel")),
        ("Bone", ("Skull", "Rib", "Femur", "Spine", "Jaw", "Tooth", "Tusk", "Claw")),
    ),
    (
        ("School", ("Alpha", "Delta", "Gamma", "Sigma", "Omega", "Kappa", "Theta", "Zeta")),
        ("Classroom", ("Red", "Blue", "Gold", "Silver", "Amber", "Ivory", "Violet", "Coral")),
        ("Backpack", ("Canvas", "Leather", "Nylon", "Denim", "Mesh", "Wool", "Suede", "Cotton")),
        ("Stationery", ("Pen", "Pencil", "Eraser", "Ruler", "Marker", "Crayon", "Stapler", "Clip")),
    ),
)

_Q = tuple[str, ...]  # quantity key: ("i", a, b) instance, ("a", a, category_layer) abstract


@dataclass
class _Item:
    word: str
    layer: int


class IGSM(Task):
    """iGSM-style problems with plain-integer answers.

    Args:
        min_ops: fewest operations a problem needs (inclusive).
        max_ops: most operations a problem needs (inclusive); drawn low-skewed in between.
        seed: stream seed; ``problem(i)`` depends on ``(seed, i)`` only.
        max_const: constants in statements are drawn from ``0..max_const`` (multipliers ``2..4``).
        bound: every quantity, and so the answer, satisfies ``|value| < bound``.
        max_distractors: distractor statements per problem are drawn from ``0..max_distractors``.
        items_per_layer: items drawn per layer of the structure graph (low, high).
        zero_answer_keep: probability to keep a problem whose answer is 0; ``None`` keeps all when
            ``max_ops < 10`` and half otherwise (zero answers are easy to guess in harder sets).
    """

    name = "igsm"

    def __init__(
        self,
        min_ops: int = 1,
        max_ops: int = 3,
        seed: int = 0,
        max_const: int = 9,
        bound: int = 1000,
        max_distractors: int = 2,
        items_per_layer: tuple[int, int] = (2, 3),
        zero_answer_keep: float | None = None,
    ) -> None:
        self.min_ops = min_ops
        self.max_ops = max_ops
        self.seed = seed
        self.max_const = max_const
        self.bound = bound
        self.max_distractors = max_distractors
        self.items_per_layer = tuple(items_per_layer)
        self.zero_answer_keep = zero_answer_keep
        self.__post_init__()

    def __post_init__(self) -> None:
        if not 0 <= self.min_ops <= self.max_ops:
            raise ValueError(f"IGSM: need 0 <= min_ops <= max_ops, got min_ops={self.min_ops}, max_ops={self.max_ops}")
        if self.bound <= self.max_const:
            raise ValueError(f"IGSM: bound ({self.bound}) must exceed max_const ({self.max_const})")
        lo, hi = self.items_per_layer
        if not 1 <= lo <= hi <= 8:
            raise ValueError(f"IGSM: items_per_layer must satisfy 1 <= low <= high <= 8, got {self.items_per_layer}")

    # ------------------------------------------------------------------ public
    def problem(self, index: int) -> Problem:
        rng = self.rng(index)
        n_ops = min(rng.randint(self.min_ops, self.max_ops), rng.randint(self.min_ops, self.max_ops))
        keep_zero = self.zero_answer_keep if self.zero_answer_keep is not None else (1.0 if self.max_ops < 10 else 0.5)
        for _ in range(20_000):
            problem = self._attempt(rng, index, n_ops)
            if problem is None:
                continue
            if problem.answer == 0 and rng.random() >= keep_zero:
                continue
            return problem
        raise RuntimeError(f"IGSM could not build a problem with {n_ops} operations under bound {self.bound} (seed={self.seed}, index={index}); raise bound or lower max_ops")

    def vocabulary(self) -> list[str]:
        words = [w for h in HIERARCHIES for cat, items in h for w in (cat, *items)]
        sentence = " ".join(_TEMPLATES.values())
        return [*words, sentence, "per", "What is ?", "Question:"]

    # ------------------------------------------------------------------ generation
    def _attempt(self, rng: random.Random, index: int, n_ops: int) -> Problem | None:
        hierarchy = rng.choice(HIERARCHIES)
        layers = [[_Item(w, li) for w in rng.sample(items, rng.randint(*self.items_per_layer))] for li, (_, items) in enumerate(hierarchy)]
        children: dict[str, list[str]] = {}
        for li in range(len(layers) - 1):
            nxt = [it.word for it in layers[li + 1]]
            for it in layers[li]:
                children[it.word] = rng.sample(nxt, rng.randint(1, min(3, len(nxt))))
        layer_of = {it.word: it.layer for layer in layers for it in layer}
        categories = [cat for cat, _ in hierarchy]

        instances: list[_Q] = [("i", a, b) for a, bs in children.items() for b in bs]
        abstracts: list[_Q] = [("a", it.word, str(L)) for layer in layers for it in layer for L in range(it.layer + 1, len(layers)) if it.word in children]

        def abs_terms(q: _Q) -> list[tuple[_Q, _Q | None]]:
            a, L = q[1], int(q[2])
            return [(("i", a, b), None if layer_of[b] == L else ("a", b, str(L))) for b in children[a]]

        def abs_total_ops(q: _Q) -> int:
            terms = abs_terms(q)
            own = len(terms) - 1 + sum(1 for _, sub in terms if sub is not None)
            return own + sum(abs_total_ops(sub) for _, sub in terms if sub is not None)

        # Top-down growth: every node gets a rank lower than the nodes that use it (no cycles).
        target = rng.choice(abstracts) if (abstracts and rng.random() < 0.5 and n_ops >= 1) else rng.choice(instances)
        if target[0] == "a" and abs_total_ops(target) > n_ops:
            target = rng.choice(instances)
        rank: dict[_Q, float] = {target: 0.0}
        spec: dict[_Q, tuple[str, list[_Q]]] = {}  # kind, operands (abstract: count, sub-total pairs, flattened)
        queue: list[_Q] = [target]
        budget = n_ops
        while queue:
            q = queue.pop(0)
            if q[0] == "a":
                operands = [x for term in abs_terms(q) for x in term if x is not None]
                budget -= len(abs_terms(q)) - 1 + sum(1 for _, sub in abs_terms(q) if sub is not None)
                spec[q] = ("abstract", [x for term in abs_terms(q) for x in (term[0], term[1] or term[0])])
            else:
                kind, operands = self._choose_formula(rng, q, budget, rank, instances, abstracts, abs_total_ops)
                budget -= 0 if kind == "const" else 1
                spec[q] = (kind, operands)
            for x in operands:
                if x in rank:
                    if rank[x] >= rank[q]:
                        return None
                    continue
                rank[x] = rank[q] - 1.0 - rng.random()
                queue.append(x)
        if budget != 0:
            return None

        # Distractors: unused instance quantities, stated from anything already defined.
        unused = [q for q in instances if q not in spec]
        rng.shuffle(unused)
        distractors = unused[: rng.randint(0, self.max_distractors)]
        for k, q in enumerate(distractors):
            pool = list(spec)
            kind = rng.choice(("const", "const", "more", "times", "sum", "diff"))
            need = {"const": 0, "more": 1, "times": 1, "sum": 2, "diff": 2}[kind]
            operands = rng.sample(pool, need) if len(pool) >= need else []
            if len(operands) < need:
                kind, operands = "const", []
            rank[q] = 1.0 + k  # after every necessary node and every earlier distractor
            spec[q] = (kind, operands)

        order = sorted(spec, key=lambda q: rank[q])
        for _ in range(50):
            nodes = self._evaluate(rng, order, spec, categories)
            if nodes is not None:
                break
        else:
            return None
        ids = {q: _qid(q) for q in order}
        dag = ProblemDAG(nodes=tuple(nodes), target=ids[target])
        if dag.num_ops != n_ops:
            return None
        stated = [n for q, n in zip(order, nodes, strict=True) if q[0] == "i"]
        conditions = [_sentence(n, dag) for n in stated]
        rng.shuffle(conditions)
        target_node = dag.node(ids[target])
        return Problem(
            task=self.name,
            seed=self.seed,
            index=index,
            conditions=tuple(conditions),
            query=f"Question: What is {target_node.name}?",
            answer=target_node.value,
            dag=dag,
            difficulty=n_ops,
        )

    def _choose_formula(self, rng: random.Random, q: _Q, budget: int, rank: dict[_Q, float], instances: list[_Q], abstracts: list[_Q], abs_total_ops: object) -> tuple[str, list[_Q]]:
        if budget <= 0:
            return "const", []
        kind = rng.choice(("more", "times", "sum", "diff", "sum", "diff"))
        need = 1 if kind in ("more", "times") else 2
        operands: list[_Q] = []
        for _ in range(need):
            reusable = [x for x in rank if rank[x] < rank[q] and x not in operands]
            fresh = [x for x in instances if x not in rank and x not in operands]
            spare = budget - 1
            fresh_abs = [x for x in abstracts if x not in rank and x not in operands and abs_total_ops(x) <= spare]  # type: ignore[operator]
            roll = rng.random()
            if reusable and roll < 0.25:
                pick = rng.choice(reusable)
            elif fresh_abs and roll < 0.45:
                pick = rng.choice(fresh_abs)
                spare -= abs_total_ops(pick)  # type: ignore[operator]
            elif fresh:
                pick = rng.choice(fresh)
            elif reusable:
                pick = rng.choice(reusable)
            else:
                return "const", []
            operands.append(pick)
        return kind, operands

    def _evaluate(self, rng: random.Random, order: list[_Q], spec: dict[_Q, tuple[str, list[_Q]]], categories: list[str]) -> list[Node] | None:
        values: dict[str, int] = {}
        nodes: list[Node] = []
        for q in order:
            kind, operands = spec[q]
            refs = [Ref(_qid(x)) for x in operands]
            expr: Expr
            if kind == "const":
                expr = Const(rng.randint(0, self.max_const))
            elif kind == "more":
                expr = Op("+", (refs[0], Const(rng.randint(1, self.max_const))))
            elif kind == "times":
                expr = Op("*", (Const(rng.randint(2, 4)), refs[0]))
            elif kind == "sum":
                expr = Op("+", (refs[0], refs[1]))
            elif kind == "diff":
                expr = Op("-", (refs[0], refs[1]))
            else:  # abstract: sum over children of count * per-child total (the count alone at the asked layer)
                pairs = zip(operands[::2], operands[1::2], strict=True)
                terms: list[Expr] = [Ref(_qid(c)) if c == sub else Op("*", (Ref(_qid(c)), Ref(_qid(sub)))) for c, sub in pairs]
                expr = terms[0] if len(terms) == 1 else Op("+", tuple(terms))
            value = evaluate(expr, values)
            assert isinstance(value, int)
            if abs(value) >= self.bound:
                return None
            values[_qid(q)] = value
            nodes.append(Node(id=_qid(q), name=_name(q, categories), expr=expr, value=value))
        return nodes


_TEMPLATES = {
    "const": "{name} equals {k}.",
    "more": "{name} equals {k} more than {x}.",
    "times": "{name} equals {k} times {x}.",
    "sum": "{name} equals the sum of {x} and {y}.",
    "diff": "{name} equals the difference of {x} and {y}.",
}


def _qid(q: _Q) -> str:
    return ":".join(q)


def _name(q: _Q, categories: list[str]) -> str:
    if q[0] == "i":
        return f"{q[2]} per {q[1]}"
    return f"{categories[int(q[2])]} per {q[1]}"


def _sentence(node: Node, dag: ProblemDAG) -> str:
    """The condition sentence stating an instance quantity."""
    e = node.expr
    if isinstance(e, Const):
        return _TEMPLATES["const"].format(name=node.name, k=e.value)
    assert isinstance(e, Op)
    names = [dag.node(a.node).name for a in e.args if isinstance(a, Ref)]
    if e.op == "+" and isinstance(e.args[1], Const):
        return _TEMPLATES["more"].format(name=node.name, k=e.args[1].value, x=names[0])
    if e.op == "*":
        assert isinstance(e.args[0], Const)
        return _TEMPLATES["times"].format(name=node.name, k=e.args[0].value, x=names[0])
    key = "sum" if e.op == "+" else "diff"
    return _TEMPLATES[key].format(name=node.name, x=names[0], y=names[1])
