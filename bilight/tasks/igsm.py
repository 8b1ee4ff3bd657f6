"""iGSM-style word problems (Ye et al., "Physics of Language Models 2.1"), at parity with the BRIDGE authors.

The shape of a problem (structure graph, dependency graph, operation count, distractors) is drawn
by `bilight.tasks.igsm_graph`, which follows the authors' generator so that the statistics match
(see ``docs/parity.md``). This module gives it numbers and words:

* an *instance* quantity (how many ``Lion`` each ``Oak`` holds) is stated in the question: a
  number 0-9, a copy of another quantity, "k more than" / "k times" it, "the sum / difference of"
  two, "the sum of" three or more, or "k more than / k times" such a sum or difference;
* an *abstract* quantity (how many ``Animal`` each ``Oak`` holds in total) is never stated; the
  hierarchy implies it: the sum over ``Oak``'s children of count times that child's total.

The condition sentences (one per instance quantity, distractors included) are shuffled and the
question comes last. A problem is kept when ``|answer| < bound`` (intermediate values are not
bounded, as in the reference); otherwise it is drawn again from scratch.

``style`` only changes the words: ``"compact"`` (default; what the CPU quickstart model learns:
one-word items, ``Lion per Oak equals 3 more than Tiger per Pine.``, ``Question: What is ...?``)
or ``"reference"`` (the authors' wording: multi-word entities, ``The number of each Riverbend Zoo's
Snow Leopard equals ...``, ``How many ... does ... have?``). The DAG, values and order are the
same in both for a given seed and index.
"""

from __future__ import annotations

import random
from typing import Literal

from bilight.dag import Const, Expr, Node, Op, ProblemDAG, Ref, evaluate
from bilight.tasks import igsm_graph
from bilight.tasks.base import Task
from bilight.tasks.igsm_graph import CONST, Param
from bilight.types import Problem

Style = Literal["compact", "reference"]

# Three hierarchies, top layer first: (category, item names). Compact items are single words (a
# quantity's name is three tokens: "Lion per Oak"; multi-token names halve what a tiny model learns).
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

# The same hierarchies named the way the reference names its entities (several words, about as long).
REFERENCE_HIERARCHIES: tuple[tuple[tuple[str, tuple[str, ...]], ...], ...] = (
    (
        (
            "District",
            (
                "Harbor District",
                "Old Mill Quarter",
                "Riverside Ward",
                "Hilltop District",
                "Garden Quarter",
                "Station Square",
                "Lakeshore Ward",
                "Market Heights",
            ),
        ),
        (
            "Supermarket",
            (
                "Sunrise Market",
                "Corner Grocer",
                "Value Depot",
                "Green Basket",
                "Family Mart",
                "Prime Foods",
                "Daily Pantry",
                "Harvest Store",
            ),
        ),
        ("Product", ("Tomato Soup", "Apple Pie", "Rye Bread", "Pasta Salad", "Veggie Curry", "Cheese Pizza", "Fruit Tart", "Rice Pudding")),
        ("Ingredient", ("Sea Salt", "Cane Sugar", "Rye Flour", "Olive Oil", "Goat Milk", "Wild Honey", "Sweet Basil", "Red Onion")),
    ),
    (
        (
            "Zoo",
            (
                "Northgate Zoo",
                "Riverbend Zoo",
                "Sunvale Wildlife Park",
                "Pine Hollow Zoo",
                "Coral Bay Aquarium",
                "Prairie Safari Park",
                "Maple Ridge Zoo",
                "Harbor Wildlife Center",
            ),
        ),
        (
            "Enclosure",
            ("Savanna Yard", "Bamboo Grove", "Polar Basin", "Reptile House", "Bird Canopy", "Night Cavern", "Desert Ridge", "Wetland Pond"),
        ),
        ("Animal", ("Red Panda", "Snow Leopard", "Gray Wolf", "Black Bear", "Sea Lion", "Fruit Bat", "Brown Owl", "Green Turtle")),
        ("Bone", ("Skull", "Rib", "Femur", "Spine", "Jaw Bone", "Shoulder Blade", "Hip Bone", "Tail Bone")),
    ),
    (
        (
            "School",
            (
                "Lincoln High",
                "Maple Grove Academy",
                "Riverside Elementary",
                "Summit Middle School",
                "Oak Park School",
                "Westfield Academy",
                "Lakeview Prep",
                "Pioneer Junior High",
            ),
        ),
        (
            "Classroom",
            ("Music Room", "Chemistry Lab", "Art Studio", "Reading Room", "Robotics Lab", "History Room", "Math Room", "Drama Hall"),
        ),
        (
            "Backpack",
            (
                "Canvas Backpack",
                "Leather Satchel",
                "Rolling Bag",
                "Sports Duffel",
                "Laptop Backpack",
                "Hiking Pack",
                "Mini Backpack",
                "Tote Bag",
            ),
        ),
        (
            "Stationery",
            ("Ballpoint Pen", "Graph Notebook", "Glue Stick", "Pencil Case", "Color Marker", "Sticky Note", "Paper Clip", "Ruler"),
        ),
    ),
)
_ITEMS = 8  # names per layer (a layer holds at most 4 items)

# Wording of each style: a quantity's name, the sentence stating it, the question.
_WORDS: dict[str, dict[str, str]] = {
    "compact": {"name": "{lower} per {upper}", "sentence": "{name} equals {rhs}.", "query": "Question: What is {name}?"},
    "reference": {
        "name": "each {upper}'s {lower}",
        "sentence": "The number of {name} equals {rhs}.",
        "query": "How many {lower} does each {upper} have?",
    },
}


class IGSM(Task):
    """iGSM-style problems with plain-integer answers.

    Args:
        min_ops: fewest operations a problem needs (inclusive). A node costs ``max(1, inputs - 1)``
            with a stated number counted as an input (so constants and copies cost one).
        max_ops: most operations (inclusive); drawn low-skewed in between (the smaller of two draws).
        seed: stream seed; ``problem(i)`` depends on ``(seed, i)`` only.
        style: ``"compact"`` (short names, the CPU quickstart's wording) or ``"reference"`` (the
            BRIDGE authors' wording); the DAG is the same.
        max_const: stated numbers are drawn from ``0..max_const``.
        bound: the answer satisfies ``|answer| < bound`` (problems are drawn again until it does).
        max_distractors: most distractor statements; ``None`` states every unused quantity (0-13 at
            15-20 operations, none in about half the problems).
        zero_answer_keep: probability to keep a problem whose answer is 0; ``None`` keeps all.
        answer_mix: shares of (zero, negative, positive) answers, enforced by drawing the sign first;
            ``None``: whatever the generator gives (about 19% zero and 12% negative at 15-20 operations).
    """

    name = "igsm"

    def __init__(
        self,
        min_ops: int = 1,
        max_ops: int = 3,
        seed: int = 0,
        style: Style = "compact",
        max_const: int = 9,
        bound: int = 1000,
        max_distractors: int | None = None,
        zero_answer_keep: float | None = None,
        answer_mix: tuple[float, float, float] | None = None,
    ) -> None:
        self.min_ops = min_ops
        self.max_ops = max_ops
        self.seed = seed
        self.style = style
        self.max_const = max_const
        self.bound = bound
        self.max_distractors = max_distractors
        self.zero_answer_keep = zero_answer_keep
        self.answer_mix = tuple(answer_mix) if answer_mix is not None else None
        self.__post_init__()

    def __post_init__(self) -> None:
        if not 1 <= self.min_ops <= self.max_ops:
            raise ValueError(f"IGSM: need 1 <= min_ops <= max_ops, got min_ops={self.min_ops}, max_ops={self.max_ops}")
        if self.style not in _WORDS:
            raise ValueError(f"IGSM: style must be one of {sorted(_WORDS)}, got {self.style!r}")
        if self.bound <= self.max_const:
            raise ValueError(f"IGSM: bound ({self.bound}) must exceed max_const ({self.max_const})")
        if self.max_distractors is not None and self.max_distractors < 0:
            raise ValueError(f"IGSM: max_distractors must be >= 0 or None, got {self.max_distractors}")
        if self.answer_mix is not None and (
            len(self.answer_mix) != 3 or any(p < 0 for p in self.answer_mix) or abs(sum(self.answer_mix) - 1) > 1e-6
        ):
            raise ValueError(
                f"IGSM: answer_mix must be three non-negative shares (zero, negative, positive) summing to 1, got {self.answer_mix}"
            )

    # ------------------------------------------------------------------ public
    def problem(self, index: int) -> Problem:
        rng = self.rng(index)
        mix = self.answer_mix
        sign = rng.choices((0, -1, 1), weights=mix)[0] if mix is not None else None
        keep_zero = 1.0 if mix is not None or self.zero_answer_keep is None else self.zero_answer_keep
        for _ in range(20_000):
            problem = self._attempt(rng, index)
            if problem is None:
                continue
            answer = int(problem.answer)
            if sign is not None and (answer > 0) - (answer < 0) != sign:
                continue
            if answer == 0 and rng.random() >= keep_zero:
                continue
            return problem
        raise RuntimeError(f"IGSM could not build a problem under bound {self.bound} (seed={self.seed}, index={index}); raise bound")

    def vocabulary(self) -> list[str]:
        tables = HIERARCHIES if self.style == "compact" else REFERENCE_HIERARCHIES
        words = [w for h in tables for cat, items in h for w in (cat, *items)]
        templates = " ".join(t for words_ in _WORDS.values() for t in words_.values())
        return [*words, templates, "more than times the sum difference of and"]

    # ------------------------------------------------------------------ generation
    def _attempt(self, rng: random.Random, index: int) -> Problem | None:
        n_ops = min(rng.randint(self.min_ops, self.max_ops), rng.randint(self.min_ops, self.max_ops))
        drawn = igsm_graph.draw(rng, n_ops, self.max_distractors)
        if drawn is None:
            return None
        parts = self._names(rng, drawn)
        words = _WORDS[self.style]
        names = {q: words["name"].format(upper=upper, lower=lower) for q, (upper, lower) in parts.items()}
        values: dict[str, int] = {}
        nodes: list[Node] = []
        for q in [*drawn.necessary, *drawn.distractors]:
            expr, rhs = self._formula(rng, q, drawn.inputs[q], names)
            value = evaluate(expr, values)
            assert isinstance(value, int)
            values[_qid(q)] = value
            nodes.append(Node(_qid(q), names[q], expr, value, stated=q.kind == "instance", statement=rhs))
        target = drawn.necessary[-1]
        if abs(values[_qid(target)]) >= self.bound:
            return None
        dag = ProblemDAG(nodes=tuple(nodes), target=_qid(target))
        conditions = [words["sentence"].format(name=n.name, rhs=n.statement) for n in nodes if n.stated]
        rng.shuffle(conditions)
        upper, lower = parts[target]
        return Problem(
            task=self.name,
            seed=self.seed,
            index=index,
            conditions=tuple(conditions),
            query=words["query"].format(name=names[target], lower=lower, upper=upper),
            answer=values[_qid(target)],
            dag=dag,
            difficulty=n_ops,
        )

    def _names(self, rng: random.Random, drawn: igsm_graph.Drawn) -> dict[Param, tuple[str, str]]:
        """Every quantity's (holder, held) words; the draws are the same in both styles (one DAG, two wordings)."""
        h = rng.randrange(len(HIERARCHIES))
        table = (HIERARCHIES if self.style == "compact" else REFERENCE_HIERARCHIES)[h]
        layers = list(reversed(table))[drawn.start : drawn.start + drawn.num_layers]  # layer 0: the smallest things
        picks = [rng.sample(range(_ITEMS), size) for size in drawn.sizes]
        item = {(li, ni): layers[li][1][k] for li, ks in enumerate(picks) for ni, k in enumerate(ks)}
        return {
            q: (item[q.upper], item[q.lower] if isinstance(q.lower, tuple) else layers[q.lower][0])
            for q in [*drawn.necessary, *drawn.distractors]
        }

    def _formula(self, rng: random.Random, q: Param, inputs: list[Param], names: dict[Param, str]) -> tuple[Expr, str]:
        """The node's expression and, for a stated quantity, the words after "equals"."""
        if q.kind == "abstract":  # sum over children of count (times the child's own total below the asked layer)
            refs: list[Expr] = [Ref(_qid(p)) for p in inputs]
            terms: list[Expr] = (
                refs if all(p.kind == "instance" for p in inputs) else [Op("*", (a, b)) for a, b in zip(refs[::2], refs[1::2], strict=True)]
            )
            return (terms[0] if len(terms) == 1 else Op("+", tuple(terms))), ""
        parents = [p for p in inputs if p is not CONST]
        words: list[str] = []
        outer: tuple[str, int] | None = None
        if CONST in inputs:
            k = rng.randint(0, self.max_const)
            words.append(str(k))
            if parents:
                op = rng.choice(("+", "*"))
                words.append("more than" if op == "+" else "times")
                outer = (op, k)
        inner: Expr | None = None
        if len(parents) == 1:
            inner = Ref(_qid(parents[0]))
            words.append(names[parents[0]])
        elif len(parents) >= 2:
            rng.shuffle(parents)
            op = rng.choice(("+", "-")) if len(parents) == 2 else "+"
            inner = Op(op, tuple(Ref(_qid(p)) for p in parents))
            listed = ", ".join(names[p] for p in parents[:-1]) + f" and {names[parents[-1]]}"
            words.append(f"the {'sum' if op == '+' else 'difference'} of {listed}")
        if inner is None:
            return Const(int(words[0])), words[0]
        expr = inner if outer is None else Op(outer[0], (Const(outer[1]), inner))
        return expr, " ".join(words)


def op_cost(node: Node) -> int:
    """Operations a node is charged in iGSM's count: ``max(1, inputs - 1)``, a stated number counting as an input."""
    return igsm_graph.cost(node.num_parents)


def _qid(q: Param) -> str:
    lower = f"{q.lower[0]}.{q.lower[1]}" if isinstance(q.lower, tuple) else str(q.lower)
    return f"{q.kind[0]}:{lower}:{q.upper[0]}.{q.upper[1]}"
