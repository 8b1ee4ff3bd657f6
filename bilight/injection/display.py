"""Readable renderings of problems and solutions for notebooks: a DAG as text, spans as coloured HTML.

Kept in the package (not the notebook) so the tour stays thin and the rendering is tested.
"""

from __future__ import annotations

import html

from bilight.injection.writer import render
from bilight.tasks.verify import format_value
from bilight.types import Problem, Solution

COLOURS = {"explore": "#f8c9c4", "early_solve": "#fde2b3", "analysis": "#c9e4f8", "subgoal": "#d5f5d0", "answer": "#e6d9f7"}


def dag_text(problem: Problem) -> str:
    """One line per node, in topological order: ``[role] name = expression = value``."""
    dag = problem.dag
    names = {n.id: n.name for n in dag.nodes}
    lines = []
    for node in dag.nodes:
        role = "target" if node.id == dag.target else ("needed" if node.id in dag.necessary else "distractor")
        lines.append(f"[{role:>10}] {node.name} = {render(node.expr, names)} = {format_value(node.value)}")
    return "\n".join(lines)


def solution_html(solution: Solution, title: str = "") -> str:
    """The solution text with every injected span on its kind's background colour."""
    parts = [f"<b>{html.escape(title)}</b><br>" if title else ""]
    for i, step in enumerate(solution.steps):
        text = html.escape(solution.text[step.start : step.end])
        colour = COLOURS.get(step.kind)
        parts.append(f'<span style="background:{colour}" title="{step.kind}">{text}</span>' if colour else text)
        if i + 1 < len(solution.steps):
            parts.append(" ")
    return '<div style="font-family:monospace;line-height:1.6">' + "".join(parts) + "</div>"


def side_by_side_html(left: Solution, right: Solution, titles: tuple[str, str] = ("vanilla", "bridge")) -> str:
    """Two solutions in a two-column table, with a legend of the span colours."""
    legend = " ".join(f'<span style="background:{c};padding:0 4px">{k}</span>' for k, c in COLOURS.items())
    cells = "".join(
        f'<td style="vertical-align:top;width:50%">{solution_html(s, t)}</td>' for s, t in zip((left, right), titles, strict=True)
    )
    return f"<div>{legend}</div><table><tr>{cells}</tr></table>"
