"""``bilight`` / ``python -m bilight``: LightningCLI over the bilight modules and data module.

``bilight fit --config configs/sft/igsm_tiny_bridge.yaml`` trains; several ``--config`` files
compose left to right (e.g. add ``configs/debug/smoke.yaml`` for a 2-step run). The model is
chosen by ``model.class_path`` (`SFTModule` or `GRPOModule`); the data module is always
`BilightDataModule`. Values set once and linked: ``model.name_or_path`` (else ``model.init_from``,
whose checkpoint or folder stores the tokenizer it was trained with) picks the data module's
tokenizer, so GRPO cannot start from an SFT model with a different tokenizer; and the data module's tokenizer and judge (its split problems and verifier)
are handed to the model; callbacks take both from the model.

Before anything is built, the parsed config is checked (`bilight.checks`) and the run folder is
chosen (`bilight.runs`: a new run never writes into another run's folder; evaluation writes to
``<run>/eval/<subcommand>-<n>``); before the trainer starts, a ``--ckpt_path`` is checked against
the model. `main` turns input errors into a few lines and exit status 2 (`bilight.errors`).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import yaml
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI
from typing_extensions import override

from bilight import checks, runs
from bilight.callbacks.evaluation import EvaluationWriter
from bilight.callbacks.guard import NonFiniteGuard
from bilight.checkpoint import check_shapes, read_checkpoint
from bilight.data import BilightDataModule
from bilight.errors import ConfigError, debug_requested, reported
from bilight.modules.common import LMModule


def _tokenizer_of(data: BilightDataModule) -> Any:
    return data.tokenizer


def _judge_of(data: BilightDataModule) -> Any:
    return data.judge


def _tokenizer_source(name_or_path: str | None, init_from: str | None) -> str | None:
    """The model's own tokenizer: the pretrained one, else the one of the weights it starts from, else None (build one)."""
    return name_or_path if name_or_path is not None else init_from


class BilightCLI(LightningCLI):
    """LightningCLI with bilight's argument links and trainer defaults."""

    @override
    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.link_arguments(
            ("model.init_args.name_or_path", "model.init_args.init_from"), "data.tokenizer_name", compute_fn=_tokenizer_source
        )
        parser.link_arguments("data", "model.init_args.tokenizer", compute_fn=_tokenizer_of, apply_on="instantiate")
        parser.link_arguments("data", "model.init_args.judge", compute_fn=_judge_of, apply_on="instantiate")
        add_safety_arguments(parser)

    @override
    def before_instantiate_classes(self) -> None:
        if self.subcommand is None:  # run=False (Python use): checks only, the caller owns its folders
            checks.check_config(self.config.as_dict(), "fit")
            return
        config = self.config[self.subcommand]
        checks.check_config(config.as_dict(), self.subcommand)
        if runs.plan_run(self.subcommand, config).finished:
            raise SystemExit(0)

    def check_checkpoint(self) -> None:
        """A ``--ckpt_path`` must be a safe checkpoint of this model (size and tokenizer), said before the trainer starts."""
        ckpt_path = self.config[self.subcommand].get("ckpt_path") if self.subcommand else None
        if ckpt_path is not None and str(ckpt_path) not in runs.SPECIAL_CKPTS:
            saved = read_checkpoint(str(ckpt_path), "--ckpt_path").get("state_dict")
            if not isinstance(saved, dict):
                raise ConfigError("--ckpt_path", str(ckpt_path), "has no 'state_dict'", "pass a checkpoint written by bilight fit")
            check_shapes(saved, self.model.state_dict(), "--ckpt_path", str(ckpt_path))

    before_fit = before_validate = before_test = before_predict = check_checkpoint


def add_safety_arguments(parser: LightningArgumentParser) -> None:
    """``--reuse_run_dir`` and the callbacks every command gets: `NonFiniteGuard` (``--nonfinite.*``) and
    `EvaluationWriter` (``--evaluation.*``: ``test`` writes per_problem.jsonl and test_metrics.json, ``predict``
    predictions.jsonl, in the run folder)."""
    parser.add_argument(
        "--reuse_run_dir", type=bool, default=False,
        help="fit: write into the configured run folder even if it holds an earlier run (default: a new <name>-vN folder)",
    )  # fmt: skip
    parser.add_lightning_class_args(NonFiniteGuard, "nonfinite")
    parser.add_lightning_class_args(EvaluationWriter, "evaluation")


TRAINER_DEFAULTS: dict[str, Any] = {
    "accelerator": "auto",
    "default_root_dir": "runs",
    "logger": [
        {"class_path": "lightning.pytorch.loggers.TensorBoardLogger", "init_args": {"save_dir": "runs", "name": "bilight"}},
    ],
}


SUBCOMMANDS = ("fit", "validate", "test", "predict")


def run(args: list[str] | None = None, exit_on_error: bool = True) -> BilightCLI:
    """Parse ``args`` (default: ``sys.argv``), run the subcommand, and return the CLI (for tests and notebooks).

    ``exit_on_error=False`` raises jsonargparse's ``ArgumentError`` instead of printing usage and exiting.
    """
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    parser_kwargs: dict[str, Any] = {} if exit_on_error else {"exit_on_error": False, **{s: {"exit_on_error": False} for s in SUBCOMMANDS}}
    return BilightCLI(
        model_class=LMModule,
        subclass_mode_model=True,
        datamodule_class=BilightDataModule,
        trainer_defaults=TRAINER_DEFAULTS,
        save_config_kwargs={"overwrite": True},
        parser_kwargs=parser_kwargs,
        args=args,
    )


def _values(args: list[str], *flags: str) -> list[str]:
    """The values given to ``flags`` on the command line (``--flag value`` and ``--flag=value``)."""
    out = []
    for i, arg in enumerate(args):
        for flag in flags:
            if arg.startswith(f"{flag}="):
                out.append(arg.split("=", 1)[1])
            elif arg == flag and i + 1 < len(args):
                out.append(args[i + 1])
    return out


def check_input_files(args: list[str]) -> None:
    """Every ``--config`` file exists and is valid YAML, a ``--ckpt_path`` file is a safe checkpoint.

    Checked before parsing because jsonargparse would not say which config file is broken, and
    LightningCLI reads the checkpoint's hyperparameters while parsing.
    """
    for path in _values(args, "--config", "-c"):
        file = Path(path)
        if not file.is_file():
            raise ConfigError("--config", path, "is not a file", "check the path (configs/<stage>/<task>_<model>.yaml)")
        try:
            yaml.safe_load(file.read_text())
        except yaml.YAMLError as err:
            where = getattr(err, "problem_mark", None)
            at = f" at line {where.line + 1}, column {where.column + 1}" if where is not None else ""
            problem = getattr(err, "problem", None) or str(err).splitlines()[0]
            raise ConfigError(
                "--config", path, f"is not valid YAML{at}: {problem}", "fix the file (indentation, brackets, quotes)"
            ) from err
    for path in _values(args, "--ckpt_path"):
        if path not in runs.SPECIAL_CKPTS:
            read_checkpoint(path, "--ckpt_path")


def main(args: list[str] | None = None) -> None:
    """Console-script entry point (``bilight``) and ``python -m bilight``: input errors end in a few lines, exit status 2."""
    argv = list(sys.argv[1:] if args is None else args)
    debug = debug_requested(argv)
    argv = [a for a in argv if a != "--debug"]
    if args is None:
        sys.argv[1:] = argv  # LightningCLI reads sys.argv itself (and warns if given both)
    with reported(debug):
        check_input_files(argv)
        run(None if args is None else argv, exit_on_error=False)
