"""Answer extraction and checking: pure functions, no model output is ever evaluated as code.

The answer of a completion is the content of its *first* ``\\boxed{...}`` (later boxes are
ignored, so a model cannot hedge by boxing several answers). Integers must match exactly;
truth values accept ``True``/``False``/``yes``/``no`` in any case.
"""

from __future__ import annotations

import re

from bilight.types import Value, Verdict

_INT = re.compile(r"^[+-]?\d+$")
_TRUE = {"true", "yes"}
_FALSE = {"false", "no"}


def extract_boxed(text: str) -> str | None:
    """Content of the first ``\\boxed{...}`` with balanced braces, stripped; None if absent or unclosed."""
    start = text.find("\\boxed{")
    if start < 0:
        return None
    i = start + len("\\boxed{")
    depth = 1
    for j in range(i, len(text)):
        if text[j] == "{":
            depth += 1
        elif text[j] == "}":
            depth -= 1
            if depth == 0:
                return text[i:j].strip()
    return None


def parse_int(text: str) -> int | None:
    """An integer written plainly (optional sign, digits, optional thousands commas), else None."""
    cleaned = text.replace(",", "").replace(" ", "")
    return int(cleaned) if _INT.match(cleaned) else None


def parse_bool(text: str) -> bool | None:
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    return None


def format_value(value: Value) -> str:
    """How values are written in solutions and boxed answers."""
    if isinstance(value, bool):
        return "True" if value else "False"
    return str(value)


def verify_answer(completion: str, answer: Value) -> Verdict:
    """Judge a completion against the ground-truth answer."""
    predicted = extract_boxed(completion)
    if predicted is None:
        return Verdict(False, None, "no \\boxed{} answer")
    if isinstance(answer, bool):
        parsed_bool = parse_bool(predicted)
        if parsed_bool is None:
            return Verdict(False, predicted, "boxed answer is not a truth value")
        return Verdict(parsed_bool == answer, predicted, "" if parsed_bool == answer else "wrong answer")
    parsed = parse_int(predicted)
    if parsed is None:
        return Verdict(False, predicted, "boxed answer is not an integer")
    return Verdict(parsed == answer, predicted, "" if parsed == answer else "wrong answer")
