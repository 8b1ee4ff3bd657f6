"""GSM8K-format rows as DAG problems: the DAG comes from the ``<<48/2=24>>`` calculator annotations.

GSM8K answers carry one annotation per computation and end with ``#### 72``. Each annotation
becomes a node; a number in its expression that equals the result of an earlier annotation is an
edge from that node (the most recent one when several match), any other number is a stated
constant. The node whose result equals the final answer is the target (the last such); the other
annotations are distractors if the target does not need them. Arithmetic is exact: ``/`` must
divide exactly and decimals are not supported, so a row whose annotations use decimals, a
percentage, an inexact division, a wrong stated result, or that has no annotation producing its
final answer is *skipped* and counted in `GSM8KFormat.skipped` (row number and reason) with a
warning, never dropped silently. A row without ``question`` or ``answer`` is an error.

Rows come from a local ``.jsonl``/``.json``/``.parquet`` file or a Hugging Face dataset name
(``datasets.load_dataset(path, name, split=split)``), once. ``problem(i)`` is the ``i``-th extractable
row in file order (wrapping around), so items are pure functions of the index.

Splits are disjoint rows: ``split(name)`` shuffles the extractable rows once by ``seed`` and cuts
consecutive blocks of ``split_fractions[name]`` of them for ``val_id``, ``test``, ``probe`` and
``rl`` (in that order); ``train`` is the rest; ``val_ood`` is every row (a task used as the OOD task
is never trained on). A split task shares the rows already read (nothing is read again), has a
``len()``, and raises a clear error when it is empty or asked past its end (``train`` wraps around).
"""

from __future__ import annotations

import copy
import json
import random
import re
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bilight.tasks.base import SplitName, Task, check_split
from bilight.tasks.dag import Const, Expr, Node, Op, ProblemDAG, Ref, evaluate
from bilight.types import Problem

_ANNOTATION = re.compile(r"<<([^<>]*)>>")
_FINAL = re.compile(r"####\s*([^\n]+)")
_TOKEN = re.compile(r"\s*(\d+(?:,\d{3})*(?:\.\d+)?|[-+*/()])")
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'])")


HELD_OUT_ORDER: tuple[str, ...] = ("val_id", "test", "probe", "rl")
DEFAULT_SPLIT_FRACTIONS: dict[str, float] = {"val_id": 0.1, "test": 0.1, "probe": 0.02, "rl": 0.2}


class NotExtractable(ValueError):
    """A row whose annotations do not form an exact integer DAG (the message is the reason)."""


class GSM8KFormat(Task):
    """GSM8K-style word problems with DAGs extracted from calculator annotations.

    Args:
        path: a local ``.jsonl``, ``.json`` (a list of rows) or ``.parquet`` file, or a dataset name
            for ``datasets.load_dataset`` (e.g. ``"openai/gsm8k"``).
        split: dataset split when ``path`` is a dataset name.
        config: dataset configuration when ``path`` is a dataset name (GSM8K's is ``"main"``).
        seed: seed of the shuffle that assigns rows to splits (the unsplit task serves file order).
        limit: read at most this many rows (``None``: all).
        split_fractions: share of the extractable rows in each held-out split; ``train`` gets the rest.
    """

    name = "gsm8k"

    def __init__(
        self,
        path: str,
        split: str = "train",
        config: str | None = "main",
        seed: int = 0,
        limit: int | None = None,
        split_fractions: Mapping[str, float] | None = None,
    ) -> None:
        self.path = path
        self.dataset_split = split
        self.config = config
        self.seed = seed
        self.limit = limit
        self.split_fractions = dict(split_fractions) if split_fractions is not None else dict(DEFAULT_SPLIT_FRACTIONS)
        self.split_name: str | None = None
        self._view: list[int] | None = None  # rows of this split (None: every row, wrapping around)
        self._read()

    def _read(self) -> None:
        rows = _read_rows(self.path, self.dataset_split, self.config, self.limit)
        self._problems: list[Problem] = []
        self.skipped: list[tuple[int, str]] = []
        """Rows that could not be turned into a DAG: (1-based row number, reason)."""
        self._texts: list[str] = []
        for number, row in enumerate(rows, start=1):
            for key in ("question", "answer"):
                if not isinstance(row.get(key), str):
                    raise ValueError(
                        f"{self.path}: row {number} has no {key!r} field (a string); GSM8K-format rows need 'question' and 'answer'"
                    )
            self._texts.append(f"{row['question']} {row['answer']}")
            try:
                self._problems.append(self._extract(row["question"], row["answer"], number - 1))
            except NotExtractable as err:
                self.skipped.append((number, str(err)))
        if self.skipped:
            shown = ", ".join(f"row {n} ({why})" for n, why in self.skipped[:5])
            more = f" and {len(self.skipped) - 5} more" if len(self.skipped) > 5 else ""
            warnings.warn(
                f"{self.path}: skipped {len(self.skipped)} of {len(rows)} rows whose DAG cannot be extracted: {shown}{more}", stacklevel=2
            )
        if not self._problems:
            raise ValueError(
                f"{self.path}: no row has an extractable DAG ({len(self.skipped)} skipped); see GSM8KFormat.skipped for reasons"
            )

    def __len__(self) -> int:
        return len(self._problems) if self._view is None else len(self._view)

    def problem(self, index: int) -> Problem:
        if self._view is None:
            return self._problems[index % len(self._problems)]
        if self.split_name == "train":
            return self._problems[self._view[index % len(self._view)]]
        if index >= len(self._view):
            raise IndexError(
                f"{self.path}: the {self.split_name} split has {len(self._view)} rows, asked for row {index}; lower the split size"
            )
        return self._problems[self._view[index]]

    def split(self, name: SplitName) -> GSM8KFormat:
        """The rows of split ``name`` (disjoint from every other split's), sharing the rows already read."""
        check_split(name)
        if self._view is not None:
            raise ValueError(f"{self.path}: already the {self.split_name} split; split the whole task")
        out = copy.copy(self)
        out.split_name = name
        order = list(range(len(self._problems)))
        random.Random(f"{self.name}:{self.seed}:splits").shuffle(order)
        if name == "val_ood":
            out._view = order
            return out
        start = 0
        for held_out in HELD_OUT_ORDER:
            size = int(len(order) * self.split_fractions.get(held_out, 0.0))
            if held_out == name:
                out._view = order[start : start + size]
                break
            start += size
        else:
            out._view = order[start:]
        if not out._view:
            raise ValueError(
                f"{self.path}: the {name} split gets 0 of {len(order)} extractable rows "
                f"(split_fractions={self.split_fractions}); give more rows or a larger fraction"
            )
        return out

    def vocabulary(self) -> list[str]:
        return ["Question: result", *self._texts]

    def _extract(self, question: str, answer: str, row: int) -> Problem:
        final_match = _FINAL.search(answer)
        if final_match is None:
            raise NotExtractable("no '#### answer' line")
        final = _parse_int(final_match.group(1).strip())
        annotations = _ANNOTATION.findall(answer)
        if not annotations:
            raise NotExtractable("no <<...>> annotations")
        nodes: list[Node] = []
        values: dict[str, int | bool] = {}
        for k, text in enumerate(annotations, start=1):
            if "=" not in text:
                raise NotExtractable(f"annotation {k} has no '='")
            lhs, rhs = text.rsplit("=", 1)
            try:
                stated = _parse_int(rhs)
            except NotExtractable as err:
                raise NotExtractable(f"annotation {k}: {err}") from err
            expr = _Parser(lhs, {v: nid for nid, v in values.items()}, k).parse()
            try:
                value = evaluate(expr, values)
            except ValueError as err:
                raise NotExtractable(f"annotation {k}: {err}") from err
            if value != stated:
                raise NotExtractable(f"annotation {k} states {stated} but {lhs.strip()} = {value}")
            nid = f"r{k}"
            values[nid] = value
            nodes.append(Node(nid, f"result {k}", expr, value))
        targets = [n.id for n in nodes if n.value == final]
        if not targets:
            raise NotExtractable(f"no annotation produces the final answer {final}")
        dag = ProblemDAG(tuple(nodes), targets[-1])
        sentences = [s.strip() for s in _SENTENCE.split(question.strip()) if s.strip()]
        conditions, query = (sentences[:-1], sentences[-1]) if len(sentences) > 1 else ([], sentences[0])
        return Problem(self.name, self.seed, row, tuple(conditions), query, final, dag, dag.num_ops)


def _parse_int(text: str) -> int:
    cleaned = text.replace(",", "").replace("$", "").strip()
    if not re.fullmatch(r"[+-]?\d+", cleaned):
        raise NotExtractable(f"{text!r} is not an integer")
    return int(cleaned)


class _Parser:
    """Recursive descent over ``+ - * / ( )`` and integers; numbers equal to earlier results become edges."""

    def __init__(self, text: str, earlier: dict[int | bool, str], k: int) -> None:
        self.text, self.earlier, self.k = text, earlier, k
        self.tokens: list[str] = []
        pos = 0
        stripped = text.rstrip()
        while pos < len(stripped):
            m = _TOKEN.match(stripped, pos)
            if m is None:
                raise NotExtractable(f"annotation {k} has an unsupported expression {text.strip()!r}")
            self.tokens.append(m.group(1))
            pos = m.end()
        self.i = 0

    def parse(self) -> Expr:
        expr = self.sum()
        if self.i != len(self.tokens):
            raise NotExtractable(f"annotation {self.k} has an unsupported expression {self.text.strip()!r}")
        return expr

    def peek(self) -> str | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self) -> str:
        tok = self.peek()
        if tok is None:
            raise NotExtractable(f"annotation {self.k} ends early: {self.text.strip()!r}")
        self.i += 1
        return tok

    def sum(self) -> Expr:
        expr = self.product()
        while self.peek() in ("+", "-"):
            expr = Op(self.take(), (expr, self.product()))
        return expr

    def product(self) -> Expr:
        expr = self.atom()
        while self.peek() in ("*", "/"):
            expr = Op(self.take(), (expr, self.atom()))
        return expr

    def atom(self) -> Expr:
        tok = self.take()
        if tok == "(":
            expr = self.sum()
            if self.take() != ")":
                raise NotExtractable(f"annotation {self.k} has unbalanced parentheses")
            return expr
        if tok == "-":
            inner = self.atom()
            if isinstance(inner, Const):
                return Const(-int(inner.value))
            return Op("-", (Const(0), inner))
        if "." in tok:
            raise NotExtractable(f"annotation {self.k} uses a decimal ({tok})")
        if not tok[0].isdigit():
            raise NotExtractable(f"annotation {self.k} has an unsupported expression {self.text.strip()!r}")
        value = int(tok.replace(",", ""))
        node = self.earlier.get(value)
        return Ref(node) if node is not None else Const(value)


def _read_rows(path: str, split: str, config: str | None, limit: int | None) -> list[dict[str, Any]]:
    file = Path(path)
    rows: list[dict[str, Any]]
    if file.suffix in (".jsonl", ".json", ".parquet"):
        if not file.exists():
            raise FileNotFoundError(f"GSM8KFormat: no file at {path}")
        if file.suffix == ".parquet":
            import pyarrow.parquet as pq

            rows = pq.read_table(file).to_pylist()
        elif file.suffix == ".json":
            rows = json.loads(file.read_text())
        else:
            rows = []
            for number, line in enumerate(file.read_text().splitlines(), start=1):
                if line.strip():
                    try:
                        rows.append(json.loads(line))
                    except json.JSONDecodeError as err:
                        raise ValueError(f"{path}: line {number} is not valid JSON ({err.msg})") from err
        if not all(isinstance(r, dict) for r in rows):
            raise ValueError(f"{path}: every row must be a JSON object with 'question' and 'answer'")
    else:
        import datasets

        rows = [dict(r) for r in datasets.load_dataset(path, config, split=split)]
    return rows[:limit] if limit is not None else rows
