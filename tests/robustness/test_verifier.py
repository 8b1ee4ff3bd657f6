"""The verifier returns a verdict for any text and never evaluates it: a corpus of hostile outputs, then a seeded fuzzer."""

from __future__ import annotations

import random
import time

import pytest

from bilight.tasks.verify import extract_boxed, parse_int, verify_answer
from bilight.types import Verdict

B = "\\boxed{"
CORPUS: list[tuple[str, int | bool, bool]] = [
    (B + "9" * 5000 + "}", 3, False),  # beyond Python's 4300-digit int-string limit
    (B + "1" + "0" * 6000 + "}", 7, False),
    (B + "0" * 10_000 + "42}", 42, True),  # leading zeros do not count
    (B + "-" + "0" * 5000 + "}", 0, True),
    (B + "{" * 100_000, 1, False),  # unclosed and deeply nested
    (B + "{" * 50_000 + "}" * 50_000 + "}", 1, False),
    (B + "}" * 100_000, 1, False),  # empty box
    ("}" * 1000 + B + "12}" + "{" * 1000, 12, True),
    (B + "1{2}3}", 123, False),
    ("x" * 3_000_000 + B + "5}", 5, True),  # megabytes of text
    (B + "5\x00}", 5, False),  # NUL byte inside the box
    ("\x00" * 1000 + B + "5}", 5, True),
    (B + "\ud800}", 5, False),  # lone surrogate
    ("\udfff" + B + "7}\ud800", 7, True),
    (B + "٣}", 3, False),  # Arabic-Indic digit: not an ASCII integer
    (B + "__import__('os').system('touch x')}", 0, False),  # never evaluated
    (B + "2+3}", 5, False),
    (B + "1,234}", 1234, True),
    (B + " - 12 }", -12, True),
    (B + "True}", True, True),
    (B + "yes\x00}", True, False),
    (B + "nan}", 0, False),
    (B + "1e3}", 1000, False),
    ("", 0, False),
    (B, 0, False),
]


@pytest.mark.parametrize(("text", "answer", "correct"), CORPUS, ids=[f"corpus{i}" for i in range(len(CORPUS))])
def test_corpus_of_hostile_outputs(text: str, answer: int | bool, correct: bool) -> None:
    start = time.perf_counter()
    verdict = verify_answer(text, answer)
    assert isinstance(verdict, Verdict) and verdict.correct is correct
    assert time.perf_counter() - start < 2.0  # linear scans only


def test_huge_integers_compare_exactly_without_conversion() -> None:
    big = int("7" * 4000)  # still convertible; the boxed text is longer than Python's limit
    assert verify_answer(B + "0" * 2000 + "7" * 4000 + "}", big).correct
    assert not verify_answer(B + "7" * 4001 + "}", big).correct
    assert parse_int("9" * 5000) is None and parse_int("-0042") == -42


ALPHABET = ["\\boxed{", "{", "}", "0", "7", "9", "-", "+", ",", " ", "\x00", "\ud800", "\udfff", "٣", "True", "no", "\n", "a", "\\"]


def test_seeded_fuzz_never_raises_and_finds_planted_answers() -> None:
    rng = random.Random(0)
    for _ in range(5000):
        noise = "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 60)))
        answer: int | bool = rng.choice([True, False]) if rng.random() < 0.2 else rng.randint(-(10**30), 10**30)
        verdict = verify_answer(noise, answer)
        assert isinstance(verdict.correct, bool)
        boxed = extract_boxed(noise)
        assert boxed is None or isinstance(boxed, str)
        if "\\boxed{" not in noise and not isinstance(answer, bool):  # a planted, well-formed answer after noise is found
            assert verify_answer(noise.replace("}", "") + f" \\boxed{{{answer}}}", answer).correct
