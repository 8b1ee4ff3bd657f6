"""The shape of an iGSM problem: a structure graph and the dependency graph drawn on it.

This follows the construction of iGSM (Ye et al., "Physics of Language Models 2.1") as the BRIDGE
authors' generator runs it, so that bilight's problems have the same statistics (necessary nodes,
instance/abstract split, parents per node, distractors); `bilight.tasks.igsm` turns the result
into numbers and words. Nothing here knows about names, values or wording.

* **structure graph**: ``L`` layers of items (layer 0 the smallest things), each item of a layer
  above 0 containing one or more items of the layer below.
* **parameters**: an *instance* parameter per containment edge ("how many ``lower`` each ``upper``
  holds") and an *abstract* one per (category layer, higher item) ("how many items of that
  category each ``upper`` holds in total"), which the hierarchy implies.
* **operation count**: a node costs ``max(1, inputs - 1)`` where a stated constant counts as an
  input, so a constant, a copy and a one-child abstract node each cost one operation. This is the
  problem's difficulty.
* **construction**, in stages: (1) abstract parameters with their whole sub-trees, highest level
  first, under a first budget; (2) free instance parameters under a second budget; (3) a random
  topological order grown from the asked node, adding an edge where the order would otherwise
  break (and half the time anyway); (4) extra inputs on instance nodes until the operation count
  is exact; (5) every unused instance parameter becomes a distractor, fed either by the
  necessary nodes (and abstract totals they make computable) or by a chain of other distractors.
"""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import dataclass, field
from typing import Literal

MAX_PARAMS = 20  # instance parameters of the largest structure graph
MAX_IN_DEGREE = 4  # inputs of an instance node, the constant included
LAYERS = 4  # layers of a hierarchy; a problem uses 2-4 consecutive ones
_ATTEMPTS = 50  # dependency graphs tried on one set of structure hyper-parameters

Item = tuple[int, int]  # (layer, position within the layer)


@dataclass(frozen=True)
class Param:
    """A quantity: ``instance`` (``lower`` is an item) or ``abstract`` (``lower`` is a category layer)."""

    kind: Literal["instance", "abstract", "const"]
    lower: Item | int
    upper: Item


CONST = Param("const", -1, (-1, -1))  # the constant generator: an input that is a number stated in the question


@dataclass
class Drawn:
    """A finished dependency graph.

    Attributes:
        num_layers: layers of the structure graph; ``start`` is the hierarchy layer its layer 0 maps to.
        sizes: items per layer.
        necessary: the asked node's ancestors and itself, in the order a solution computes them (asked last).
        distractors: every other node, in an order where inputs come first.
        inputs: each node's inputs (``CONST`` at most once), in no meaningful order.
        ops: the operation count (``max(1, inputs - 1)`` summed over necessary nodes).
    """

    num_layers: int
    start: int
    sizes: list[int]
    necessary: list[Param]
    distractors: list[Param]
    inputs: dict[Param, list[Param]]
    ops: int


def cost(num_inputs: int) -> int:
    """Operations charged for a node with ``num_inputs`` inputs (a stated constant counts)."""
    return max(1, num_inputs - 1)


def draw(rng: random.Random, n_ops: int, max_distractors: int | None = None) -> Drawn | None:
    """A dependency graph of exactly ``n_ops`` operations, or None when this draw fails (draw again)."""
    stage1 = max(rng.randint(1, n_ops), rng.randint(1, n_ops))
    stage2 = rng.randint(stage1, n_ops)
    rel = (n_ops - 1) / (MAX_PARAMS - 1)
    weights = [math.exp(-((rel - c) ** 2)) for c in (0.2, 0.5, 0.8)]  # larger problems, wider and deeper graphs
    num_layers = rng.choices((2, 3, 4), weights)[0]
    w0, w1 = sorted(rng.choices((2, 3, 4), weights, k=2))
    num_edges = min(
        rng.randint((num_layers - 1) * w0, MAX_PARAMS), rng.randint((num_layers - 1) * w0, MAX_PARAMS), (num_layers - 1) * w1 * w1
    )
    start = rng.randint(0, LAYERS - num_layers)
    for _ in range(_ATTEMPTS):
        structure = _Structure.draw(rng, num_layers, w0, w1, num_edges)
        builder = _Builder(structure, rng)
        builder.stage1(stage1)
        builder.stage2(stage2)
        order = builder.stage3()
        if order is None:
            continue  # an abstract node left the order disconnected: another structure graph
        if not builder.stage4(order, n_ops):
            return None
        distractors = builder.stage5(order, max_distractors)
        return Drawn(num_layers, start, structure.sizes, order, distractors, builder.inputs, n_ops)
    return None


@dataclass
class _Structure:
    sizes: list[int]
    contains: dict[Item, list[Item]]  # upper item -> the lower items it holds
    instances: list[Param] = field(default_factory=list)
    abstracts: list[Param] = field(default_factory=list)
    implied: dict[Param, list[Param]] = field(default_factory=dict)  # abstract -> the parameters it is computed from

    @classmethod
    def draw(cls, rng: random.Random, num_layers: int, w0: int, w1: int, num_edges: int) -> _Structure:
        sizes = [w0] * num_layers
        grow = rng.random()
        while any(s < w1 for s in sizes):
            fewest = sum(sizes[1:])  # every item above layer 0 holds at least one item
            most = sum(a * b for a, b in itertools.pairwise(sizes))
            if fewest == num_edges:
                break
            if most < num_edges or rng.random() < grow:
                sizes[rng.choice([i for i, s in enumerate(sizes) if s < w1])] += 1
            else:
                break
        edges: list[tuple[Item, Item]] = [
            ((i - 1, rng.randint(0, sizes[i - 1] - 1)), (i, j)) for i in range(1, num_layers) for j in range(sizes[i])
        ]
        while len(edges) < num_edges:
            i = rng.randint(1, num_layers - 1)
            edge = ((i - 1, rng.randint(0, sizes[i - 1] - 1)), (i, rng.randint(0, sizes[i] - 1)))
            if edge not in edges:
                edges.append(edge)
        contains: dict[Item, list[Item]] = {}
        for lower, upper in edges:
            contains.setdefault(upper, []).append(lower)
        s = cls(sizes, contains, [Param("instance", lo, up) for lo, up in edges])
        for lj in range(1, num_layers):
            for li in range(lj):
                for nj in range(sizes[lj]):
                    q = Param("abstract", li, (lj, nj))
                    s.abstracts.append(q)
                    s.implied[q] = [
                        x
                        for lo in contains[(lj, nj)]
                        for x in (Param("instance", lo, (lj, nj)), *([Param("abstract", li, lo)] if lj - li > 1 else []))
                    ]
        return s


class _Builder:
    """Grows the dependency graph stage by stage; ``inputs`` holds every node added so far."""

    def __init__(self, structure: _Structure, rng: random.Random) -> None:
        self.s, self.rng = structure, rng
        self.inputs: dict[Param, list[Param]] = {}
        self.ops = 0

    def _closure(self, root: Param, budget: int) -> bool:
        """Add ``root`` with every parameter it needs, if their cost fits ``budget``."""
        new: list[Param] = []
        queue = [root]
        while queue:
            q = queue.pop(0)
            if q in self.inputs or q in new:
                continue
            new.append(q)
            queue.extend(p for p in self.s.implied.get(q, []) if p not in self.inputs and p not in new)
        extra = sum(cost(len(self.s.implied.get(q, []))) for q in new)
        if self.ops + extra > budget:
            return False
        self.ops += extra
        for q in new:
            self.inputs[q] = list(self.s.implied.get(q, []))
        return True

    def stage1(self, budget: int) -> None:
        """Abstract parameters (deepest first) with their sub-trees, while they fit ``budget``."""
        levels = range(len(self.s.sizes) - 1, 0, -1)
        progress = True
        while progress:
            progress = False
            for level in levels:
                free = [q for q in self.s.abstracts if q.upper[0] - int(q.lower) == level and q not in self.inputs]  # type: ignore[arg-type]
                if free and self._closure(self.rng.choice(free), budget):
                    progress = True
                    break

    def stage2(self, budget: int) -> None:
        """Free instance parameters, one operation each, until ``budget`` is reached."""
        free = [q for q in self.s.instances if q not in self.inputs]
        while self.ops < budget and free:
            self.inputs[free.pop(self.rng.randrange(len(free)))] = []
            self.ops += 1

    def _weighted(self, pool: list[Param], linked: list[Param]) -> Param:
        """A pick favouring abstract nodes and nodes already feeding the order, by a random strength."""
        strength = abs(self.rng.gauss(0.0, 1.0))
        return self.rng.choices(pool, [math.exp(strength * ((q.kind == "abstract") + (q in linked))) for q in pool])[0]

    def stage3(self) -> list[Param] | None:
        """A topological order grown backwards from the asked node; None when it cannot be closed."""
        nodes = list(self.inputs)
        users = dict.fromkeys(nodes, 0)
        for q in nodes:
            for p in self.inputs[q]:
                users[p] += 1
        remaining = nodes[:]
        order: list[Param] = []
        feeding: list[Param] = []  # inputs of placed nodes, with repeats (a repeat weighs the pick)
        free = [q for q in nodes if users[q] == 0]  # nodes none of whose users remain
        while True:
            q = self.rng.choice([x for x in feeding if x in free] if order else free)
            order.append(q)
            remaining.remove(q)
            if q in feeding:
                feeding.remove(q)
            free.remove(q)
            for p in self.inputs[q]:
                feeding.append(p)
                users[p] -= 1
                if users[p] == 0:
                    free.append(p)
            if not remaining:
                break
            if not any(x in free for x in feeding):
                if q.kind == "abstract":
                    return None
                p = self._weighted(free, feeding)
            elif q.kind == "instance" and self.rng.random() < 0.5:
                p = self._weighted(remaining, feeding)
            else:
                continue
            self.inputs[q].append(p)
            feeding.append(p)
        order.reverse()
        return order

    def stage4(self, order: list[Param], n_ops: int) -> bool:
        """Give instance nodes inputs (earlier nodes or a constant) so that the count is exactly ``n_ops``."""
        costs = [cost(len(self.inputs[q])) for q in order]
        caps = [min(MAX_IN_DEGREE - 1, max(1, i)) for i in range(len(order))]
        while sum(costs) < n_ops:
            room = [i for i, q in enumerate(order) if costs[i] < caps[i] and q.kind == "instance"]
            if not room:
                return False
            costs[self.rng.choice(room)] += 1
        for i, q in enumerate(order):
            if q.kind != "instance":
                continue
            pool = [*order[:i], CONST]
            want = min(self.rng.randint(1, 2) if costs[i] == 1 else costs[i] + 1, len(pool))
            if self.inputs[q]:  # the edge stage 3 added
                pool.remove(self.inputs[q][0])
                want -= 1
            if want == len(pool):
                self.inputs[q].extend(pool)
                continue
            if self.rng.random() < 0.5:
                self.inputs[q].append(CONST)
                pool.remove(CONST)
                want = max(0, want - 1)
            self.inputs[q].extend(self.rng.sample(pool, want))
        return True

    def stage5(self, necessary: list[Param], cap: int | None) -> list[Param]:
        """Every unused instance parameter (at most ``cap``) as a distractor; abstract ones it uses come along."""
        spare = [q for q in self.s.instances if q not in self.inputs]
        spare_abstract = [q for q in self.s.abstracts if q not in self.inputs]
        chain: list[Param] = []
        out: list[Param] = []
        while spare and (cap is None or sum(q.kind == "instance" for q in out) < cap):
            computable = necessary + [a for a in spare_abstract if all(p in self.inputs for p in self.s.implied[a])]
            q = spare.pop(self.rng.randrange(len(spare)))
            self.inputs[q] = []
            if self.rng.random() < 0.5:
                pool = [*chain, CONST]
                chain.append(q)
            else:
                pool = [*computable, CONST]
            want = 1
            while want < min(MAX_IN_DEGREE, len(pool)) and self.rng.random() < 0.5:
                want += 1
            if want == len(pool):
                picked = pool
            else:
                with_const = self.rng.random() < 0.5
                picked = [*self.rng.sample(pool[:-1], want - with_const), *([CONST] if with_const else [])]
            for p in picked:
                if p.kind == "abstract" and p not in self.inputs:
                    self.inputs[p] = list(self.s.implied[p])
                    spare_abstract.remove(p)
                    out.append(p)
            self.inputs[q] = picked
            out.append(q)
        return out
