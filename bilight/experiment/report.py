"""Rebuild ``results.json``, ``results.md`` and the figures from the cells under ``results/<experiment>/``."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from bilight.experiment.figures import save_figures
from bilight.experiment.results import DIAGNOSTICS, load_cells, render_markdown, summarize
from bilight.system import write_atomically


def samples_per_problem(cells: list[dict[str, Any]]) -> int:
    """k of the cells' avg@k (every cell is evaluated with the same k)."""
    for cell in cells:
        for key in cell["sft"].get("test", {}):
            if key.startswith("avg@") and not key.endswith("_se"):
                return int(key[4:])
    return 0


def write_results(name: str, seeds: Mapping[str, Sequence[int]], root: Path, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Summarise every finished cell under ``root`` into results.json / results.md / figures.

    ``name`` is the experiment's; ``seeds`` maps each recipe, in table order, to the seeds it should have (the
    cells that do not exist yet are listed as missing)."""
    cells = load_cells(root)
    recipes = list(seeds)
    summary = summarize(cells, recipes, seeds, samples_per_problem(cells))
    summary["experiment"] = name
    write_atomically(root / "results.json", json.dumps(summary | {"cell_records": cells}, indent=2, sort_keys=True))
    figures = save_figures(cells, recipes, summary["k"], DIAGNOSTICS, root / "figures")
    text = render_markdown(summary, f"Experiment {name}")
    text += "".join(f"\n![{p.stem}](figures/{p.name})\n" for p in figures)
    write_atomically(root / "results.md", text)
    log(f"results: {root / 'results.md'} ({len(cells)} cells; missing: {', '.join(summary['missing']) or 'none'})")
    return summary
