"""The one expression parser: precedence, calls, leaves chosen by the caller, clear errors."""

import pytest

from bilight.dag import Const, Op, Ref, evaluate
from bilight.tasks.expression import parse_expression


def test_precedence_calls_and_unary_minus_evaluate_as_written() -> None:
    env = {"a": 6, "b": 4}
    assert evaluate(parse_expression("a + b * 2 - 3"), env) == 11
    assert evaluate(parse_expression("(a + b) / 5"), env) == 2
    assert evaluate(parse_expression("max(a, 3, min(b, 1)) + -2"), env) == 4
    assert evaluate(parse_expression("-(a - 10)"), env) == 4
    assert evaluate(parse_expression("not True or False and True"), {}) is False
    assert parse_expression("48/2") == Op("/", (Const(48), Const(2)))


def test_the_caller_decides_what_a_leaf_is() -> None:
    expr = parse_expression("48 + 24", lambda tok: Ref("r1") if tok == "24" else Const(int(tok)))
    assert expr == Op("+", (Const(48), Ref("r1")))


@pytest.mark.parametrize(("text", "message"), [("3 +", "expected a token"), ("3 ^ 2", "cannot read"), ("(3", "expected \\)"),
                                               ("3 4", "trailing"), ("0.5 * 2", "decimal")])  # fmt: skip
def test_unreadable_text_is_a_value_error(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_expression(text)
