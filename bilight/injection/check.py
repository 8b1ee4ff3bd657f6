"""Audits of written solutions: is every equality true, is every injected span where its kind says?

Injected data that teaches a wrong sum teaches the wrong thing. These checks read only the text
and the DAG, never ``eval``: a small parser understands what the writer writes (integers, truth
values, variables ``a``..``z``, ``+ - * /``, ``max``/``min``, ``and``/``or``/``not``,
parentheses): `bilight.tasks.expression.parse_expression`, the parser the GSM8K loader uses too,
computed with `bilight.dag.evaluate`. Tests run them over every task and
preset; the data module or a notebook may run them over a dataset before training on it.
"""

from __future__ import annotations

import re

from bilight.dag import ProblemDAG, evaluate, refs
from bilight.tasks.expression import parse_expression
from bilight.types import Solution, Step, Value

_SINGLE_OP = re.compile(r"^(?:\(?-?\d+\)?|True|False) (?:[-+*/]|and|or) (?:\(?-?\d+\)?|True|False) = (?:\(?-?\d+\)?|True|False)\.$")
_SINGLE_CALL = re.compile(r"^(?:max|min)\(\(?-?\d+\)?, \(?-?\d+\)?\) = \(?-?\d+\)?\.$|^not (?:True|False) = (?:True|False)\.$")


def _value(text: str, env: dict[str, Value]) -> Value:
    """The value of a written expression, its variables taken from ``env``."""
    expr = parse_expression(text)
    missing = [r for r in refs(expr) if r not in env]
    if missing:
        raise ValueError(f"unknown variable {missing[0]!r}")
    return evaluate(expr, env)


def false_equalities(text: str) -> list[str]:
    """Every written equality chain of ``text`` that is not true (empty when all hold).

    Reads ``so v = E = ... = V`` chains (defining ``v``), ``(v = V)`` restatements, one-operation
    lines ``A op B = C``, ``So v = V`` and ``Then v = E = ... = V`` (the latter two define ``v`` when
    it is new); variables (one letter, either case) take the value of their defining chain.
    """
    env: dict[str, Value] = {}
    bad: list[str] = []
    for sentence in re.split(r"(?<=\.)\s+", text):
        chains = [(c, False) for c in re.findall(r"\(([a-z]\d* = [^()]+)\)", sentence)]  # restatements define nothing
        body = sentence.rstrip(".")
        if "; so " in body:
            chains.append((body.split("; so ", 1)[1], True))
        elif body.startswith(("So ", "Then ")) and "\\boxed" not in body:
            chains.append((body.split(" ", 1)[1], True))  # "So v = 5" / "Then v = a + b = ..." (reference wording) may define v
        elif " = " in body and not body.startswith(("To find", "Try", "Define")):
            chains.append((body, False))
        for chain, may_define in chains:
            parts = chain.split(" = ")
            head = parts[0].strip()
            defining = may_define and re.fullmatch(r"[A-Za-z]\d*", head) is not None and head not in env
            try:
                values = [_value(p, env) for p in (parts[1:] if defining else parts)]
            except (ValueError, ZeroDivisionError) as err:
                bad.append(f"{chain!r}: {err}")
                continue
            if any(v != values[0] or type(v) is not type(values[0]) for v in values):
                bad.append(f"{chain!r}: sides differ {values}")
            elif defining:
                env[head] = values[0]
    return bad


def misplaced_spans(solution: Solution, dag: ProblemDAG) -> list[str]:
    """Every step whose kind is not where it belongs (empty when all are).

    * ``explore``: names a node that is locked at that point, after the first computation and
      while necessary nodes remain; ``early_solve``/``regular``: an unlocked node, each node once;
    * ``analysis``: immediately before the computation of its own node, or an attempt at it;
    * ``subgoal``: one operation, inside its node's computation;
    * ``answer``: last, boxing the target's value; every necessary node computed.
    """
    bad: list[str] = []
    known: set[str] = set()
    steps = solution.steps
    for i, step in enumerate(steps):
        text = solution.text[step.start : step.end]
        nid = step.node
        if step.kind == "explore":
            if not known:
                bad.append(f"step {i}: exploration before the first computation")
            if nid is None or dag.is_unlocked(nid, known) or nid in known:
                bad.append(f"step {i}: explores {nid!r}, which is not locked")
            if dag.necessary <= known:
                bad.append(f"step {i}: exploration after the last necessary computation")
        elif step.kind == "analysis":
            nxt = next((s for s in steps[i + 1 :] if s.kind != "analysis"), None)
            if nxt is None or nxt.kind not in ("regular", "early_solve", "explore") or nxt.node != nid:
                bad.append(f"step {i}: analysis of {nid!r} not followed by its computation or an attempt at it")
        elif step.kind == "subgoal":
            if not (_SINGLE_OP.match(text) or _SINGLE_CALL.match(text)):
                bad.append(f"step {i}: subgoal is not one operation: {text!r}")
            if i == 0 or steps[i - 1].node != nid:
                bad.append(f"step {i}: subgoal outside its node's computation")
        elif step.kind in ("regular", "early_solve"):
            if nid is None or not dag.is_unlocked(nid, known):
                bad.append(f"step {i}: computes {nid!r} before its inputs")
            elif text.startswith("Define") and nid in known:
                bad.append(f"step {i}: computes {nid!r} twice")
            if nid is not None and (text.startswith("So ") or not _has_subgoals(steps, i)):
                known.add(nid)
        elif step.kind == "answer" and (i != len(steps) - 1 or nid != dag.target):
            bad.append(f"step {i}: the answer is not the last step on the target")
    if not dag.necessary <= known:
        bad.append(f"necessary nodes never computed: {sorted(dag.necessary - known)}")
    return bad


def _has_subgoals(steps: tuple[Step, ...], i: int) -> bool:
    return i + 1 < len(steps) and steps[i + 1].kind == "subgoal" and steps[i + 1].node == steps[i].node
