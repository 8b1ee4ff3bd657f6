"""``bilight`` / ``python -m bilight``: LightningCLI over the bilight modules and data module.

``bilight fit --config configs/sft/igsm_tiny_bridge.yaml`` trains; several ``--config`` files
compose left to right (e.g. add ``configs/debug/smoke.yaml`` for a 2-step run). The model is
chosen by ``model.class_path`` (`SFTModule` or `GRPOModule`); the data module is always
`BilightDataModule`. Values set once and linked: ``model.name_or_path`` (else ``model.init_from``,
whose checkpoint or folder stores the tokenizer it was trained with) picks the data module's
tokenizer, so GRPO cannot start from an SFT model with a different tokenizer; and the data module's tokenizer and judge (its split problems and verifier)
are handed to the model; callbacks take both from the model.
"""

from __future__ import annotations

import os
from typing import Any

from lightning.pytorch.cli import LightningArgumentParser, LightningCLI
from typing_extensions import override

from bilight.callbacks.evaluation import EvaluationWriter
from bilight.data import BilightDataModule
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
        # always on: `test` writes per_problem.jsonl + test_metrics.json, `predict` predictions.jsonl, in the run folder
        parser.add_lightning_class_args(EvaluationWriter, "evaluation")


TRAINER_DEFAULTS: dict[str, Any] = {
    "accelerator": "auto",
    "default_root_dir": "runs",
    "logger": [
        {"class_path": "lightning.pytorch.loggers.TensorBoardLogger", "init_args": {"save_dir": "runs", "name": "bilight"}},
    ],
}


def run(args: list[str] | None = None) -> BilightCLI:
    """Parse ``args`` (default: ``sys.argv``), run the subcommand, and return the CLI (for tests and notebooks)."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    return BilightCLI(
        model_class=LMModule,
        subclass_mode_model=True,
        datamodule_class=BilightDataModule,
        trainer_defaults=TRAINER_DEFAULTS,
        save_config_kwargs={"overwrite": True},
        args=args,
    )


def main() -> None:
    """Console-script entry point (``bilight``) and ``python -m bilight``."""
    run()
