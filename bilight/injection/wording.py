"""How a solution is worded: ``compact`` (the CPU quickstart's short sentences) or ``reference``.

The writer (`bilight.injection.writer`) decides what happens (which node, computed or attempted,
with or without a restated condition); a `Wording` turns each move into text pieces. The
``reference`` wording follows the BRIDGE authors' answers: a ``<think>`` block of ``- `` lines with
varied phrasings, a random letter per node, ``Then x = ... .`` chains, and a closing
``<answer> ... \\boxed{V} ... </answer>``. ``compact`` keeps one short sentence per move with
variables ``a, b, c, ...`` in order of use.
"""

from __future__ import annotations

import random
import string
from typing import Protocol

from bilight.dag import Const, Expr, Node, Ref
from bilight.tasks.verify import format_value
from bilight.types import Value

_PRECEDENCE = {"or": 1, "and": 2, "+": 3, "-": 3, "*": 4, "/": 4}

# Pieces are (role, text): role "analysis" is tagged as an analysis span, "main" as the move's own kind.
Pieces = list[tuple[str, str]]

_DIRECT = ("According to the information given, the number of {name} is {value}.", "The number of {name} is {value}.")
_SELECT = ("We can then calculate the number of {name}.", "Now, we can find the number of {name}.")
_DEFINE = ("Let it be {v}.", "Let's denote it as {v}.", "Let's call it {v}.")
_DEFINE_NEW = (
    "Next, let {v} represent the number of {name}.",
    "Then, let's denote the number of {name} as {v}.",
    "Next, let's define the number of {name} as {v}.",
)
_UNKNOWN = (
    "Wait, the number of {names} {be} unknown, so we cannot compute it.",
    "However, we don't know the number of {names}, thus we cannot calculate it now.",
    "But we haven't calculated the number of {names} yet, thus the value of {v} is still unknown.",
)
_REFERENCE_FIXED = (
    "<think> Let's compute the answer step by step. Remember that it has been denoted as We know that it equals "
    "Then So Thus, the answer is </think> <answer> The final answer is \\boxed{ } </answer> is are"
)
VOCABULARY = (
    "Define as ; so = . So the answer is \\boxed{ } Try : it needs , which is not known yet ; go back . equals "
    "( ) + - * max min not True False " + " ".join(_DIRECT + _SELECT + _DEFINE + _DEFINE_NEW + _UNKNOWN) + " " + _REFERENCE_FIXED
)
"""Every word a wording can write besides node names and numbers (for the task tokenizer)."""


def value_text(value: Value) -> str:
    text = format_value(value)
    return f"({text})" if text.startswith("-") else text


def render(expr: Expr, leaf: dict[str, str], parent_prec: int = 0, right: bool = False) -> str:
    """Infix text of an expression, node references shown through ``leaf`` (variables or values)."""
    if isinstance(expr, Const):
        return value_text(expr.value)
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


def _chain(links: list[str]) -> str:
    """``a = b = c`` without a link repeating the one before it."""
    out = [links[0]]
    for link in links[1:]:
        if link != out[-1]:
            out.append(link)
    return " = ".join(out)


class Wording(Protocol):
    sep: str  # between moves

    def preamble(self) -> str: ...
    def var(self, node_id: str) -> str: ...
    def analysis(self, node: Node, statement: str) -> str: ...
    def compute(self, node: Node, with_vars: str, chain: list[str], analysis: str | None) -> Pieces: ...
    def fail(self, node: Node, missing: list[str], analysis: str | None) -> Pieces: ...
    def answer(self, value: str) -> str: ...


class Compact:
    """``Define Lion per Oak as c; so c = a + b = 3 + 4 = 7.``: short, regular, cheap to learn."""

    sep = " "

    def __init__(self) -> None:
        self.vars: dict[str, str] = {}

    def preamble(self) -> str:
        return ""

    def var(self, node_id: str) -> str:
        if node_id not in self.vars:
            n = len(self.vars)
            self.vars[node_id] = string.ascii_lowercase[n % 26] + ("" if n < 26 else str(n // 26))
        return self.vars[node_id]

    def analysis(self, node: Node, statement: str) -> str:
        return f"{node.name} equals {statement}."

    def compute(self, node: Node, with_vars: str, chain: list[str], analysis: str | None) -> Pieces:
        v = self.var(node.id)
        main = ("main", f"Define {node.name} as {v}; so {v} = {_chain([with_vars, *chain])}.")
        return [("analysis", analysis), main] if analysis else [main]

    def fail(self, node: Node, missing: list[str], analysis: str | None) -> Pieces:
        main = ("main", f"Try {node.name}: it needs {' and '.join(missing)}, which is not known yet; go back.")
        return [("analysis", analysis), main] if analysis else [main]

    def answer(self, value: str) -> str:
        return f"So the answer is \\boxed{{{value}}}."


class Reference:
    """The BRIDGE authors' answer wording (phrasings drawn at random, one random letter per node)."""

    sep = "\n"

    def __init__(self, rng: random.Random, node_ids: list[str]) -> None:
        self.rng = rng
        letters = list(string.ascii_letters)
        rng.shuffle(letters)
        self.vars = {nid: letters[i % 52] + ("" if i < 52 else str(i // 52)) for i, nid in enumerate(node_ids)}
        self.denoted: set[str] = set()

    def preamble(self) -> str:
        return "<think>\nLet's compute the answer step by step."

    def var(self, node_id: str) -> str:
        return self.vars[node_id]

    def analysis(self, node: Node, statement: str) -> str:
        return f"We know that it equals {statement}."

    def _intro(self, node: Node) -> str:
        v, pick = self.vars[node.id], self.rng.choice
        if node.id in self.denoted:
            return f"- {pick(_SELECT).format(name=node.name)} Remember that it has been denoted as {v}."
        self.denoted.add(node.id)
        if self.rng.random() < 0.5:
            return f"- {pick(_SELECT).format(name=node.name)} {pick(_DEFINE).format(v=v)}"
        return f"- {pick(_DEFINE_NEW).format(name=node.name, v=v)}"

    def _around(self, intro: str, analysis: str | None, last: str) -> Pieces:
        return [("main", intro), ("analysis", analysis), ("main", last)] if analysis else [("main", f"{intro} {last}")]

    def compute(self, node: Node, with_vars: str, chain: list[str], analysis: str | None) -> Pieces:
        v = self.vars[node.id]
        if not node.parents:  # a stated number
            direct = self.rng.choice(_DIRECT).format(name=node.name, value=format_value(node.value))
            return [("main", f"- {direct} {self.rng.choice(_DEFINE).format(v=v)} So {v} = {chain[-1]}.")]
        return self._around(self._intro(node), analysis, f"Then {v} = {_chain([with_vars, *chain])}.")

    def fail(self, node: Node, missing: list[str], analysis: str | None) -> Pieces:
        intro = self._intro(node)
        unknown = self.rng.choice(_UNKNOWN).format(names=", ".join(missing), be="is" if len(missing) == 1 else "are", v=self.vars[node.id])
        return self._around(intro, analysis, unknown)

    def answer(self, value: str) -> str:
        return f"Thus, the answer is {value}.\n</think>\n<answer>\nThe final answer is \\boxed{{{value}}}.\n</answer>"


def wording(style: str, rng: random.Random, node_ids: list[str]) -> Wording:
    """The wording for ``style`` (``compact`` or ``reference``); ``rng`` draws only phrasings and letters."""
    if style == "compact":
        return Compact()
    if style == "reference":
        return Reference(rng, node_ids)
    raise ValueError(f"unknown style {style!r}; choose 'compact' or 'reference'")
