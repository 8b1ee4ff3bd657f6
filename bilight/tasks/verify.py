"""Answer extraction and checking: pure functions, no model output is ever evaluated as code.

The answer of a completion is the content of its *first* ``\\boxed{...}`` (later boxes are
ignored, so a model cannot hedge by boxing several answers). Integers must match exactly;
truth values accept ``True``/``False``/``yes``/``no`` in any case.

Every function returns a verdict for any string (it runs on model output inside GRPO, where an
exception kills the run): integers are compared as digit strings, so a 5,000-digit answer never
meets Python's int-string conversion limit; braces are matched by one scan over the closing braces
(linear in the text, no recursion, any nesting depth); NUL bytes and lone surrogates are plain characters here.
Only ASCII digits count as digits.
"""

from __future__ import annotations

import re

from bilight.types import Value, Verdict

_INT = re.compile(r"([+-]?)0*([0-9]+)")
_BOXED = "\\boxed{"
_TRUE = {"true", "yes"}
_FALSE = {"false", "no"}


def extract_boxed(text: str) -> str | None:
    """Content of the first ``\\boxed{...}`` with balanced braces, stripped; None if absent or unclosed."""
    start = text.find(_BOXED)
    if start < 0:
        return None
    i = pos = start + len(_BOXED)
    depth = 1
    while (close := text.find("}", pos)) >= 0:  # one step per '}'; the '{' in between are counted in C
        depth += text.count("{", pos, close) - 1
        if depth == 0:
            return text[i:close].strip()
        pos = close + 1
    return None


def _canonical_int(text: str) -> str | None:
    """``-12`` for ``-0012`` / ``-1,2`` / ``- 12``: sign and digits without leading zeros, or None if not a plain integer."""
    m = _INT.fullmatch(text.replace(",", "").replace(" ", ""))
    if m is None:
        return None
    digits = m.group(2).lstrip("0") or "0"
    return digits if m.group(1) != "-" or digits == "0" else "-" + digits


def parse_int(text: str, max_digits: int = 4000) -> int | None:
    """An integer written plainly (optional sign, ASCII digits, optional thousands commas), else None.

    Integers longer than ``max_digits`` are None (Python refuses to convert them); compare those
    with `verify_answer`, which never converts.
    """
    canonical = _canonical_int(text)
    if canonical is None or len(canonical) > max_digits:
        return None
    return int(canonical)


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
    canonical = _canonical_int(predicted)
    if canonical is None:
        return Verdict(False, predicted, "boxed answer is not an integer")
    correct = canonical == str(answer)  # digit strings: no int() of model output, whatever its length
    return Verdict(correct, predicted, "" if correct else "wrong answer")
