"""Errors a person can act on: what is wrong (option, file or row), the value given, what to do.

A wrong option, a missing checkpoint or a malformed data file is the user's to fix, so the
command line ends such runs with a few lines and a non-zero exit status instead of two chained
tracebacks and a dump of the parsed namespace; ``--debug`` (or ``BILIGHT_DEBUG=1``) brings the
traceback back. Everything else (a bug, an out-of-memory error) keeps its traceback.

bilight's own checks raise the `BilightError` subclasses below. Errors raised by the libraries
underneath that are, in practice, always about the input (jsonargparse's parse errors, a YAML
syntax error, ``ValueError``/``TypeError`` from a constructor, Lightning's
``MisconfigurationException``, a file that does not exist, a full
disk, a refused pickle) are shortened by `explain` too.
"""

from __future__ import annotations

import argparse
import errno
import os
import pickle
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager

DEBUG_ENV = "BILIGHT_DEBUG"
EXIT_USAGE = 2
HINT = "(add --debug or set BILIGHT_DEBUG=1 for the traceback)"
MAX_LINES = 12
MAX_LINE = 300


class BilightError(Exception):
    """An input error with a message that says what is wrong and what to do."""


class ConfigError(BilightError, ValueError):
    """A configuration value that cannot work: ``ConfigError("data.batch_size", 0, "must be >= 1")``."""

    def __init__(self, option: str, value: object, problem: str, fix: str = "") -> None:
        self.option, self.value = option, value
        shown = _short(repr(value))
        super().__init__(f"{option}: {problem} (given: {shown})" + (f"; {fix}" if fix else ""))


class CheckpointError(BilightError, ValueError):
    """A checkpoint or weights file that cannot be used (missing, not a checkpoint, unsafe, another model)."""


class DataError(BilightError, ValueError):
    """A data file that cannot be used: ``data.task.path: row 17 has no 'answer' field``."""


class TrainingError(BilightError, RuntimeError):
    """Training cannot go on (a non-finite loss or gradient); the message says which checkpoint is intact."""


def debug_requested(args: list[str]) -> bool:
    return "--debug" in args or os.environ.get(DEBUG_ENV, "") not in ("", "0")


def _short(text: str, limit: int = MAX_LINE) -> str:
    return text if len(text) <= limit else f"{text[: limit - 20]} ... ({len(text)} characters)"


_NOISE = re.compile(
    r"^\s*(- )?(Does not validate against any of the Union subtypes|Subtypes: |Errors:|Expected a <class '[\w.]+'>$|Given value type: |Given value: (NestedArg|Namespace))"
)


def tidy_parser_message(message: str) -> str:
    """jsonargparse's message without its Union/NoneType noise and namespace dumps, lines capped."""
    lines = [line for line in message.splitlines() if line.strip() and not _NOISE.match(line)]
    lines = [_short(line.rstrip()) for line in lines]
    if len(lines) > MAX_LINES:
        lines = [*lines[:MAX_LINES], f"  ... ({len(lines) - MAX_LINES} more lines)"]
    return "\n".join(lines)


def _root_causes(err: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def explain(err: BaseException) -> str | None:
    """A few lines for an input error, or None for anything else (which keeps its traceback)."""
    chain = list(_root_causes(err))
    for e in chain:  # bilight's own message wins, wherever it sits in the chain
        if isinstance(e, BilightError):
            return str(e)
    if isinstance(err, argparse.ArgumentError):
        return tidy_parser_message(str(err)) + "\n(see the options with `bilight <subcommand> --help`)"
    for e in chain:
        if isinstance(e, pickle.UnpicklingError) or "Weights only load failed" in str(e):
            return (
                "a checkpoint was refused: it holds objects other than tensors and plain containers, and unpickling "
                "them could run code. Load only checkpoints you trust, written by bilight/Lightning."
            )
    if isinstance(err, OSError):
        if err.errno == errno.ENOSPC:
            return f"no space left on the device while writing {err.filename or 'a file'}; free space or choose another folder"
        if err.errno in (errno.EACCES, errno.EROFS, errno.EPERM):
            return f"cannot write {err.filename or 'a file'}: {err.strerror}; choose a folder you can write to"
        if isinstance(err, FileNotFoundError):
            return _short(str(err))
        return None
    from lightning.fabric.utilities.exceptions import MisconfigurationException

    if isinstance(err, ValueError | TypeError | MisconfigurationException):  # raised by constructors: about their arguments
        return tidy_parser_message(str(err))
    return None


@contextmanager
def reported(debug: bool) -> Iterator[None]:
    """Turn input errors raised inside into ``bilight: error: ...`` on stderr and exit status 2."""
    try:
        yield
    except Exception as err:
        message = None if debug else explain(err)
        if message is None:
            raise
        print(f"bilight: error: {message}\n{HINT}", file=sys.stderr, flush=True)
        raise SystemExit(EXIT_USAGE) from None
