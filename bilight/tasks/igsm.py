"""iGSM-style word problems (Ye et al., "Physics of Language Models 2.1", as varied by BRIDGE).

A problem lives in a *structure graph*: four layers of items from one of three hierarchies
(e.g. zoo -> enclosure -> animal -> bone), with edges between consecutive layers. Quantities:

* **instance** ``b per a`` for an edge ``a -> b``: how many ``b`` each ``a`` holds. Stated in the
  question, either as a number or from other quantities ("equals", "k more than", "k times",
  "the sum of", "the difference of", "k times the sum of").
* **abstract** ``Category per a``: how many items of a lower layer each ``a`` holds in total.
  Never stated; implied by the hierarchy:
  ``Animal per Oak = sum over enclosures e of Oak of (e per Oak) * (Animal per e)``.
  An abstract quantity is only used when every edge below it (down to its layer) is a necessary,
  stated quantity, so the statement stays unambiguous.

The dependency graph is grown top-down from the asked quantity under an operation budget drawn
low-skewed (the minimum of two uniform draws, as in iGSM). The budget is *reserved* as the graph
grows (an abstract quantity's whole forced sub-tree is paid when it is chosen), so the exact op
count is reached without blind rejection. Operands reuse existing quantities often (iGSM's
dependency graphs are DAGs, not trees), which is what keeps about 12 necessary quantities at
15-20 operations. Distractor statements (unneeded instance quantities, more in harder sets) are
added, the condition sentences shuffled, and the question comes last. Values are plain integers
with ``|value| < bound`` for every quantity. In harder sets (``max_ops >= 10``) the sign of the
answer follows the reference mix (19% zero, 12% negative), drawn first and met by rejection, and
stated formulas may perform up to three operations ("3 times the sum of x, y and z"); small sets
keep one-operation formulas, which is what the CPU quickstart learns from.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from bilight.dag import Const, Expr, Node, Op, ProblemDAG, Ref, evaluate
from bilight.tasks.base import Task
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

_Q = tuple[str, str, str]  # quantity key: ("i", a, b) instance, ("a", a, category_layer) abstract

# Formula kinds for a stated quantity: (kind, own operations, operands).
_FORMULAS: tuple[tuple[str, int, int], ...] = (
    ("more", 1, 1),
    ("times", 1, 1),
    ("sum", 1, 2),
    ("diff", 1, 2),
    ("sum", 1, 2),
    ("diff", 1, 2),
    ("sum3", 2, 3),
    ("times_sum", 2, 2),
    ("times_diff", 2, 2),
    ("sum4", 3, 4),
    ("times_sum3", 3, 3),
)
REFERENCE_ANSWER_MIX = (0.19, 0.12, 0.69)  # zero, negative, positive answers of the reference generator at 15-20 operations
_ABS_TARGET_P = 0.35  # chance to ask for an abstract quantity (when one fits the budget)
_ABS_OPERAND_P = 0.15  # chance that an operand is a fresh abstract quantity (rather than a fresh instance)
_CONST_P = 0.15  # chance that a quantity which need not grow the graph is stated as a plain number
_OP_WEIGHTS = {1: 0.25, 2: 0.4, 3: 0.35}  # how many operations one stated formula performs


@dataclass
class _World:
    """One drawn structure graph with its quantities and the fixed cost of each abstract one."""

    children: dict[str, list[str]]
    layer_of: dict[str, int]
    categories: list[str]
    instances: list[_Q]
    abstracts: list[_Q]
    closure: dict[_Q, tuple[_Q, ...]] = field(default_factory=dict)  # abstract -> itself and every abstract below it
    own_ops: dict[_Q, int] = field(default_factory=dict)

    @classmethod
    def draw(cls, rng: random.Random, items_per_layer: tuple[int, ...]) -> _World:
        hierarchy = rng.choice(HIERARCHIES)
        lo, hi = items_per_layer
        layers = [rng.sample(items, rng.randint(lo, hi)) for _, items in hierarchy]
        children: dict[str, list[str]] = {}
        for li in range(len(layers) - 1):
            nxt = layers[li + 1]
            for word in layers[li]:
                children[word] = rng.sample(nxt, rng.randint(1, min(3, len(nxt))))
        layer_of = {w: li for li, layer in enumerate(layers) for w in layer}
        instances: list[_Q] = [("i", a, b) for a, bs in children.items() for b in bs]
        abstracts: list[_Q] = [
            ("a", w, str(L)) for li, layer in enumerate(layers) for w in layer if w in children for L in range(li + 1, len(layers))
        ]
        world = cls(children, layer_of, [cat for cat, _ in hierarchy], instances, abstracts)
        for q in reversed(abstracts):  # deeper items first, so sub-closures exist
            subs = [s for _, s in world.terms(q) if s is not None]
            world.own_ops[q] = len(world.children[q[1]]) - 1 + len(subs)
            world.closure[q] = tuple(dict.fromkeys([q, *(x for s in subs for x in world.closure[s])]))
        return world

    def terms(self, q: _Q) -> list[tuple[_Q, _Q | None]]:
        """An abstract quantity's terms: (count of child, that child's own total or None at the asked layer)."""
        a, L = q[1], int(q[2])
        return [(("i", a, b), None if self.layer_of[b] == L else ("a", b, q[2])) for b in self.children[a]]


class _Graph:
    """The growing dependency graph: operands of every quantity, remaining budget, work queue."""

    def __init__(self, world: _World, budget: int) -> None:
        self.world = world
        self.budget = budget
        self.spec: dict[_Q, tuple[str, list[_Q]]] = {}
        self.queue: list[_Q] = []  # instance quantities still waiting for a formula

    def uses(self, x: _Q) -> set[_Q]:
        """Every quantity ``x`` depends on, transitively (itself included)."""
        seen: set[_Q] = set()
        stack = [x]
        while stack:
            y = stack.pop()
            if y not in seen:
                seen.add(y)
                stack.extend(self.spec.get(y, ("", []))[1])
        return seen

    def abstract_cost(self, x: _Q) -> int:
        return sum(self.world.own_ops[y] for y in self.world.closure[x] if y not in self.spec)

    def abstract_ok(self, x: _Q, user: _Q | None) -> bool:
        """Whether adding abstract ``x`` (used by ``user``) fits the budget and creates no cycle."""
        if x in self.spec or self.abstract_cost(x) > self.budget:
            return False
        if user is None:
            return True
        deps = {c for y in self.world.closure[x] for c, _ in self.world.terms(y)} | set(self.world.closure[x])
        return not any(user in self.uses(d) for d in deps if d in self.spec)

    def add(self, x: _Q) -> None:
        """Add a fresh quantity: an instance waits in the queue, an abstract brings its forced sub-tree."""
        if x[0] == "i":
            self.spec[x] = ("pending", [])
            self.queue.append(x)
            return
        for y in reversed(self.world.closure[x]):
            if y in self.spec:
                continue
            self.budget -= self.world.own_ops[y]
            terms = self.world.terms(y)
            self.spec[y] = ("abstract", [z for c, s in terms for z in (c, s or c)])
            for c, _ in terms:
                if c not in self.spec:
                    self.add(c)


class IGSM(Task):
    """iGSM-style problems with plain-integer answers.

    Args:
        min_ops: fewest operations a problem needs (inclusive).
        max_ops: most operations a problem needs (inclusive); drawn low-skewed in between.
        seed: stream seed; ``problem(i)`` depends on ``(seed, i)`` only.
        max_const: constants in statements are drawn from ``0..max_const`` (multipliers ``2..4``).
        bound: every quantity, and so the answer, satisfies ``|value| < bound``.
        max_distractors: distractor statements per problem are drawn from ``0..max_distractors``;
            ``None`` scales with difficulty: ``clamp(ops // 3, 2, 5)`` (mean 2.5 at 15-20 operations).
        items_per_layer: items drawn per layer of the structure graph (low, high); ``None``: (2, 3),
            or (3, 4) when ``max_ops >= 10`` (room for distractors).
        zero_answer_keep: probability to keep a problem whose answer is 0, when no ``answer_mix``
            applies; ``None`` keeps all.
        reuse: probability that an operand reuses a quantity already in the graph (when one can be
            reused without a cycle) rather than a fresh one.
        max_formula_ops: most operations one stated formula performs (1-3); ``None``: 1, or 3 when
            ``max_ops >= 10``.
        answer_mix: shares of (zero, negative, positive) answers, enforced by drawing the sign first;
            ``None``: no enforcement, or the reference mix (0.19, 0.12, 0.69) when ``max_ops >= 10``.
    """

    name = "igsm"

    def __init__(
        self,
        min_ops: int = 1,
        max_ops: int = 3,
        seed: int = 0,
        max_const: int = 9,
        bound: int = 1000,
        max_distractors: int | None = None,
        items_per_layer: tuple[int, int] | None = None,
        zero_answer_keep: float | None = None,
        reuse: float = 0.9,
        max_formula_ops: int | None = None,
        answer_mix: tuple[float, float, float] | None = None,
    ) -> None:
        self.min_ops = min_ops
        self.max_ops = max_ops
        self.seed = seed
        self.max_const = max_const
        self.bound = bound
        self.max_distractors = max_distractors
        self.items_per_layer = tuple(items_per_layer) if items_per_layer is not None else None
        self.zero_answer_keep = zero_answer_keep
        self.reuse = reuse
        self.max_formula_ops = max_formula_ops
        self.answer_mix = tuple(answer_mix) if answer_mix is not None else None
        self.__post_init__()

    def __post_init__(self) -> None:
        if not 0 <= self.min_ops <= self.max_ops:
            raise ValueError(f"IGSM: need 0 <= min_ops <= max_ops, got min_ops={self.min_ops}, max_ops={self.max_ops}")
        if self.bound <= self.max_const:
            raise ValueError(f"IGSM: bound ({self.bound}) must exceed max_const ({self.max_const})")
        lo, hi = self._items_per_layer
        if not 1 <= lo <= hi <= 8:
            raise ValueError(f"IGSM: items_per_layer must satisfy 1 <= low <= high <= 8, got {self.items_per_layer}")
        if self.max_distractors is not None and self.max_distractors < 0:
            raise ValueError(f"IGSM: max_distractors must be >= 0 or None, got {self.max_distractors}")
        if self.max_formula_ops is not None and not 1 <= self.max_formula_ops <= 3:
            raise ValueError(f"IGSM: max_formula_ops must be 1, 2, 3 or None, got {self.max_formula_ops}")
        if self.answer_mix is not None and (
            len(self.answer_mix) != 3 or any(p < 0 for p in self.answer_mix) or abs(sum(self.answer_mix) - 1) > 1e-6
        ):
            raise ValueError(
                f"IGSM: answer_mix must be three non-negative shares (zero, negative, positive) summing to 1, got {self.answer_mix}"
            )
        if not 0.0 <= self.reuse <= 1.0:
            raise ValueError(f"IGSM: reuse must be in [0, 1], got {self.reuse}")

    @property
    def _hard(self) -> bool:
        return self.max_ops >= 10

    @property
    def _items_per_layer(self) -> tuple[int, ...]:
        if self.items_per_layer is not None:
            return self.items_per_layer
        return (3, 4) if self._hard else (2, 3)

    @property
    def _answer_mix(self) -> tuple[float, ...] | None:
        if self.answer_mix is not None:
            return self.answer_mix
        return REFERENCE_ANSWER_MIX if self._hard else None

    @property
    def _formula_ops(self) -> int:
        if self.max_formula_ops is not None:
            return self.max_formula_ops
        return 3 if self._hard else 1

    # ------------------------------------------------------------------ public
    def problem(self, index: int) -> Problem:
        rng = self.rng(index)
        n_ops = min(rng.randint(self.min_ops, self.max_ops), rng.randint(self.min_ops, self.max_ops))
        mix = self._answer_mix
        keep_zero = 1.0 if mix is not None or self.zero_answer_keep is None else self.zero_answer_keep
        sign = rng.choices((0, -1, 1), weights=mix)[0] if mix is not None else None
        for _ in range(5_000):
            problem = self._attempt(rng, index, n_ops)
            if problem is None:
                continue
            answer = int(problem.answer)
            if sign is not None and (answer > 0) - (answer < 0) != sign:
                continue
            if answer == 0 and rng.random() >= keep_zero:
                continue
            return problem
        raise RuntimeError(
            f"IGSM could not build a problem with {n_ops} operations under bound {self.bound} (seed={self.seed}, index={index}); raise bound or lower max_ops"
        )

    def vocabulary(self) -> list[str]:
        words = [w for h in HIERARCHIES for cat, items in h for w in (cat, *items)]
        sentence = " ".join(_TEMPLATES.values())
        return [*words, sentence, "per", "What is ?", "Question:"]

    # ------------------------------------------------------------------ generation
    def _attempt(self, rng: random.Random, index: int, n_ops: int) -> Problem | None:
        world = _World.draw(rng, self._items_per_layer)
        graph = _Graph(world, n_ops)
        abstract_targets = [q for q in world.abstracts if graph.abstract_ok(q, None)] if n_ops >= 1 and rng.random() < _ABS_TARGET_P else []
        target = rng.choice(abstract_targets) if abstract_targets else rng.choice(world.instances)
        graph.add(target)
        while graph.queue:
            q = graph.queue.pop(rng.randrange(len(graph.queue)))
            if not self._choose_formula(rng, graph, q):
                return None
        if graph.budget != 0:
            return None
        self._add_distractors(rng, graph, n_ops)
        order = _topological(rng, graph.spec)
        for _ in range(30):
            nodes = self._evaluate(rng, order, graph.spec, world.categories)
            if nodes is not None:
                break
        else:
            return None
        dag = ProblemDAG(nodes=tuple(nodes), target=_qid(target))
        if dag.num_ops != n_ops:  # reservation makes this exact; kept as a guard
            return None
        conditions = [_sentence(n, dag) for q, n in zip(order, nodes, strict=True) if q[0] == "i"]
        rng.shuffle(conditions)
        target_node = dag.node(_qid(target))
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

    def _choose_formula(self, rng: random.Random, graph: _Graph, q: _Q) -> bool:
        """Give instance quantity ``q`` a formula within the remaining budget; False when stuck."""
        last = not graph.queue  # nothing else can spend the budget: this quantity must grow the graph
        if graph.budget <= 0 or (not last and rng.random() < _CONST_P):
            graph.spec[q] = ("const", [])
            return True
        sizes = [k for k in _OP_WEIGHTS if k <= min(graph.budget, self._formula_ops)]
        size = rng.choices(sizes, weights=[_OP_WEIGHTS[k] for k in sizes])[0]
        kind, own, need = rng.choice([f for f in _FORMULAS if f[1] == size])
        graph.budget -= own
        users = graph.uses  # bound method: cycle check against the graph as it stands
        operands: list[_Q] = []
        for slot in range(need):
            must_grow = last and graph.budget > 0 and slot == need - 1 and not graph.queue
            reusable = [x for x in graph.spec if x != q and x not in operands and q not in users(x)] if not must_grow else []
            fresh_abs = [x for x in graph.world.abstracts if x not in operands and graph.abstract_ok(x, q)]
            fresh = [x for x in graph.world.instances if x not in graph.spec and x not in operands]
            if reusable and rng.random() < self.reuse:
                pick = rng.choice(reusable)
            elif fresh_abs and rng.random() < _ABS_OPERAND_P:
                pick = rng.choice(fresh_abs)
            elif fresh:
                pick = rng.choice(fresh)
            elif reusable:
                pick = rng.choice(reusable)
            else:
                return False
            if pick not in graph.spec:
                graph.add(pick)
            operands.append(pick)
        graph.spec[q] = (kind, operands)
        return True

    def _add_distractors(self, rng: random.Random, graph: _Graph, n_ops: int) -> None:
        """Unused instance quantities, stated from necessary quantities or earlier distractors."""
        cap = self.max_distractors if self.max_distractors is not None else min(5, max(2, n_ops // 3))
        unused = [q for q in graph.world.instances if q not in graph.spec]
        rng.shuffle(unused)
        for q in unused[: rng.randint(0, cap)]:
            pool = list(graph.spec)
            kind, _, need = rng.choice((("const", 0, 0), ("const", 0, 0), *(f for f in _FORMULAS if f[1] <= self._formula_ops)))
            if len(pool) < need:
                kind, need = "const", 0
            graph.spec[q] = (kind, rng.sample(pool, need))

    def _evaluate(
        self, rng: random.Random, order: list[_Q], spec: dict[_Q, tuple[str, list[_Q]]], categories: list[str]
    ) -> list[Node] | None:
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
            elif kind in ("sum", "sum3", "sum4"):
                expr = Op("+", tuple(refs))
            elif kind == "diff":
                expr = Op("-", (refs[0], refs[1]))
            elif kind in ("times_sum", "times_diff", "times_sum3"):
                expr = Op("*", (Const(rng.randint(2, 4)), Op("-" if kind == "times_diff" else "+", tuple(refs))))
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
    "sum3": "{name} equals the sum of {x}, {y} and {z}.",
    "diff": "{name} equals the difference of {x} and {y}.",
    "times_sum": "{name} equals {k} times the sum of {x} and {y}.",
    "times_diff": "{name} equals {k} times the difference of {x} and {y}.",
    "sum4": "{name} equals the sum of {x}, {y}, {z} and {w}.",
    "times_sum3": "{name} equals {k} times the sum of {x}, {y} and {z}.",
}


def _topological(rng: random.Random, spec: dict[_Q, tuple[str, list[_Q]]]) -> list[_Q]:
    """A random topological order of every quantity (operands before their users)."""
    pending = {q: set(ops) for q, (_, ops) in spec.items()}
    users: dict[_Q, list[_Q]] = {q: [] for q in spec}
    for q, ops in pending.items():
        for x in ops:
            users[x].append(q)
    ready = sorted((q for q, ops in pending.items() if not ops), key=_qid)
    order: list[_Q] = []
    while ready:
        q = ready.pop(rng.randrange(len(ready)))
        order.append(q)
        for u in users[q]:
            pending[u].discard(q)
            if not pending[u] and u not in order and u not in ready:
                ready.append(u)
    if len(order) != len(spec):
        raise AssertionError("IGSM built a cyclic dependency graph")  # the cycle checks make this unreachable
    return order


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
    if e.op == "*" and isinstance(e.args[1], Op):
        assert isinstance(e.args[0], Const)
        inner = [dag.node(a.node).name for a in e.args[1].args if isinstance(a, Ref)]
        key = "times_diff" if e.args[1].op == "-" else ("times_sum" if len(inner) == 2 else "times_sum3")
        return _TEMPLATES[key].format(name=node.name, k=e.args[0].value, **dict(zip("xyz", inner, strict=False)))
    names = [dag.node(a.node).name for a in e.args if isinstance(a, Ref)]
    if e.op == "+" and isinstance(e.args[1], Const):
        return _TEMPLATES["more"].format(name=node.name, k=e.args[1].value, x=names[0])
    if e.op == "*":
        assert isinstance(e.args[0], Const)
        return _TEMPLATES["times"].format(name=node.name, k=e.args[0].value, x=names[0])
    if e.op == "+" and len(names) >= 3:
        return _TEMPLATES["sum3" if len(names) == 3 else "sum4"].format(name=node.name, **dict(zip("xyzw", names, strict=False)))
    key = "sum" if e.op == "+" else "diff"
    return _TEMPLATES[key].format(name=node.name, x=names[0], y=names[1])
