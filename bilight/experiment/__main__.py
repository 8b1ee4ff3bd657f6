"""``python -m bilight.experiment --config configs/experiment/igsm_smoke.yaml --output_dir runs/experiment/smoke``.

``--dry_run`` prints every stage's command without running anything; ``--report_only`` rebuilds
``results.md`` from the cells that exist.
"""

from __future__ import annotations

import sys
from pathlib import Path

from jsonargparse import ActionConfigFile, ArgumentParser


def main(args: list[str] | None = None) -> None:
    from bilight.experiment.runner import Experiment, plan, run

    parser = ArgumentParser(prog="python -m bilight.experiment", description=__doc__)
    parser.add_argument("--config", action=ActionConfigFile, help="experiment YAML (configs/experiment/)")
    parser.add_argument("--output_dir", type=str, required=True, help="stage folders go to DIR/<recipe>/<seed>/<stage>")
    parser.add_argument("--dry_run", action="store_true", help="print the commands, run nothing")
    parser.add_argument("--report_only", action="store_true", help="only rebuild results.json/results.md")
    parser.add_argument("--jobs", type=int, default=1, help="cells run at once; the CPU cores are divided between them")
    parser.add_class_arguments(Experiment, "experiment")
    cfg = parser.parse_args(args)
    experiment = parser.instantiate(cfg).experiment
    output_dir = Path(cfg.output_dir)
    if cfg.dry_run:
        for stage in plan(experiment, output_dir):
            print(f"[{stage.label}] {' '.join(stage.command())}")
        return
    if cfg.report_only:
        from bilight.experiment.report import write_results

        write_results(experiment.name, experiment.seed_table(), Path(experiment.results_dir) / experiment.name)
        return
    try:
        run(experiment, output_dir, jobs=cfg.jobs)
    except RuntimeError as err:  # a stage failed: its log says why; the same command resumes
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
