"""Rebuild ``results.json``, ``results.md`` and the figures from the cells under ``results/<experiment>/``."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bilight.experiment.figures import save_figures
from bilight.experiment.results import DIAGNOSTICS, load_cells, render_markdown, summarize

if TYPE_CHECKING:
    from bilight.experiment.runner import Experiment


def samples_per_problem(cells: list[dict[str, Any]]) -> int:
    """k of the cells' avg@k (every cell is evaluated with the same k)."""
    for cell in cells:
        for key in cell["sft"].get("test", {}):
            if key.startswith("avg@") and not key.endswith("_se"):
                return int(key[4:])
    return 0


def write_results(experiment: Experiment, root: Path, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Summarise every finished cell of ``experiment`` under ``root`` into results.json / results.md / figures."""
    cells = load_cells(root)
    seeds = {r: experiment.seeds_of(r) for r in experiment.recipes}
    summary = summarize(cells, experiment.recipes, seeds, samples_per_problem(cells))
    summary["experiment"] = experiment.name
    root.mkdir(parents=True, exist_ok=True)
    (root / "results.json").write_text(json.dumps(summary | {"cell_records": cells}, indent=2, sort_keys=True))
    figures = save_figures(cells, experiment.recipes, summary["k"], DIAGNOSTICS, root / "figures")
    text = render_markdown(summary, f"Experiment {experiment.name}")
    text += "".join(f"\n![{p.stem}](figures/{p.name})\n" for p in figures)
    (root / "results.md").write_text(text)
    log(f"results: {root / 'results.md'} ({len(cells)} cells; missing: {', '.join(summary['missing']) or 'none'})")
    return summary
