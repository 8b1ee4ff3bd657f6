"""The one expression parser: text such as ``max(a, 3) + b * 2`` or ``48/2`` into a DAG `Expr`.

Two callers read arithmetic written as text: the GSM8K-format loader (``<<48/2=24>>`` calculator
annotations become DAG nodes) and the injection audit (``injection/check.py`` re-computes every
equality a written solution states). Both parse with `parse_expression` and compute with
`bilight.dag.evaluate`, so there is one grammar and one arithmetic, and model output is never
``eval``-ed.

Grammar, loosest binding first: ``or`` < ``and`` < ``not`` < ``+ -`` < ``* /`` < unary minus <
``max(...)``/``min(...)`` calls, parentheses and leaves. Binary operators fold to the left. A leaf
(an integer, a decimal, ``True``/``False`` or a variable name, one letter ``a``..``z`` or ``A``..``Z`` with optional digits) is
turned into an `Expr` by the caller's ``leaf`` function, which is where GSM8K maps a number equal to
an earlier result to an edge and rejects decimals; `default_leaf` reads integers and truth values as
constants and names as references.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from bilight.dag import Const, Expr, Op, Ref

_TOKEN = re.compile(r"\s*(\d+(?:\.\d+)?|True|False|max|min|and|or|not|[A-Za-z]\d*|[-+*/(),])")


def default_leaf(token: str) -> Expr:
    """Integers and ``True``/``False`` as constants, names as references to nodes; decimals are an error."""
    if token in ("True", "False"):
        return Const(token == "True")
    if token[0].isdigit():
        if "." in token:
            raise ValueError(f"decimal {token} (only integers)")
        return Const(int(token))
    return Ref(token)


def parse_expression(text: str, leaf: Callable[[str], Expr] = default_leaf) -> Expr:
    """The `Expr` tree of ``text``; a ValueError says what could not be read."""
    return _Parser(text, leaf).parse()


class _Parser:
    """Recursive descent over the token list, one method per precedence level."""

    def __init__(self, text: str, leaf: Callable[[str], Expr]) -> None:
        self.text, self.leaf = text.strip(), leaf
        self.tokens: list[str] = []
        pos = 0
        while pos < len(self.text):
            m = _TOKEN.match(self.text, pos)
            if m is None:
                raise ValueError(f"cannot read {self.text!r} at {self.text[pos:]!r}")
            self.tokens.append(m.group(1))
            pos = m.end()
        self.i = 0

    def parse(self) -> Expr:
        out = self.disj()
        if self.i != len(self.tokens):
            raise ValueError(f"trailing tokens in {self.text!r}")
        return out

    def peek(self) -> str | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self, expected: str | None = None) -> str:
        tok = self.peek()
        if tok is None or (expected is not None and tok != expected):
            raise ValueError(f"expected {expected or 'a token'} in {self.text!r}")
        self.i += 1
        return tok

    def binary(self, ops: tuple[str, ...], operand: Callable[[], Expr]) -> Expr:
        out = operand()
        while self.peek() in ops:
            out = Op(self.take(), (out, operand()))
        return out

    def disj(self) -> Expr:
        return self.binary(("or",), self.conj)

    def conj(self) -> Expr:
        return self.binary(("and",), self.neg)

    def neg(self) -> Expr:
        if self.peek() == "not":
            self.take()
            return Op("not", (self.neg(),))
        return self.sum()

    def sum(self) -> Expr:
        return self.binary(("+", "-"), self.product)

    def product(self) -> Expr:
        return self.binary(("*", "/"), self.atom)

    def atom(self) -> Expr:
        tok = self.take()
        if tok == "(":
            out = self.disj()
            self.take(")")
            return out
        if tok == "-":
            inner = self.atom()
            return Const(-int(inner.value)) if isinstance(inner, Const) else Op("-", (Const(0), inner))
        if tok in ("max", "min"):
            self.take("(")
            out = self.disj()
            while self.peek() == ",":
                self.take()
                out = Op(tok, (out, self.disj()))
            self.take(")")
            return out
        if tok in ("+", "*", "/", ")", ",", "and", "or", "not"):
            raise ValueError(f"unexpected {tok!r} in {self.text!r}")
        return self.leaf(tok)
