"""Semantic checks of a parsed configuration, before anything is built.

jsonargparse checks types (an ``int`` is an int, a ``Literal`` is one of its values); these checks
are the ranges and combinations that types cannot say: ``min_ops <= max_ops``, probabilities in
[0, 1], ``num_generations >= 2``, ``epsilon_high >= epsilon``, a positive rollout temperature,
positive sizes and budgets, a prompt template with ``{question}``, an ``init_from`` that exists.
They run on the config (one place, with the option names a user types) rather than in each
constructor, so the error names the option (``data.task.init_args.min_ops``) and comes before
any data is generated or any model is built. Constructors keep their own checks for Python users.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bilight.errors import ConfigError
from bilight.injection import presets

POSITIVE_DATA = ("batch_size", "eval_batch_size", "num_train", "num_val", "num_rl", "num_probe", "max_length")
POSITIVE_MODEL = ("max_new_tokens", "hidden_size", "num_layers", "num_heads", "num_iterations")
NON_NEGATIVE_MODEL = ("val_num_samples", "test_num_samples")  # 0: greedy accuracy only


def check_config(config: Mapping[str, Any], subcommand: str) -> None:
    """Raise `ConfigError` for the first value that cannot work (``config`` as a plain dict)."""
    data = config.get("data") or {}
    _check_data(data)
    model = config.get("model") or {}
    _check_model(model.get("init_args") or {}, subcommand)
    trainer = config.get("trainer") or {}
    max_steps = trainer.get("max_steps")
    if isinstance(max_steps, int) and (max_steps == 0 or max_steps < -1):
        raise ConfigError("trainer.max_steps", max_steps, "must be >= 1 (or -1 for no limit)")


def _positive(section: Mapping[str, Any], prefix: str, names: tuple[str, ...]) -> None:
    for name in names:
        value = section.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool) and value < 1:
            raise ConfigError(f"{prefix}{name}", value, "must be >= 1")


def _probability(option: str, value: Any) -> None:
    values = value if isinstance(value, list | tuple) else [value]
    for v in values:
        if isinstance(v, int | float) and not isinstance(v, bool) and not 0.0 <= v <= 1.0:
            raise ConfigError(option, value, "is a probability and must be in [0, 1]")


def _check_task(option: str, task: Any) -> None:
    if not isinstance(task, Mapping):
        return
    args = task.get("init_args") or {}
    lo, hi = args.get("min_ops"), args.get("max_ops")
    if isinstance(lo, int) and isinstance(hi, int) and lo > hi:
        raise ConfigError(f"{option}.init_args.min_ops", lo, f"is larger than max_ops ({hi})", "set min_ops <= max_ops")
    for key, value in args.items():
        if key.endswith(("_p", "_prob", "_probs", "_share")):
            _probability(f"{option}.init_args.{key}", value)


def _check_data(data: Mapping[str, Any]) -> None:
    _positive(data, "data.", POSITIVE_DATA)
    template = data.get("prompt_template")
    if isinstance(template, str) and "{question}" not in template:
        raise ConfigError("data.prompt_template", template, "has no {question} placeholder", "the question is inserted there")
    injection = data.get("injection")
    if isinstance(injection, str):
        try:
            presets.get(injection)  # a preset name, optionally with its wording: "bridge" or "bridge:reference"
        except ValueError:
            raise ConfigError(
                "data.injection",
                injection,
                "is not a preset",
                f"choose one of {', '.join(sorted(presets.PRESETS))} (optionally ':reference')",
            ) from None
    if isinstance(injection, Mapping):
        for key, value in (injection.get("init_args") or {}).items():
            if key.endswith(("_p", "_probs", "_share")):
                _probability(f"data.injection.init_args.{key}", value)
    _check_task("data.task", data.get("task"))
    _check_task("data.ood_task", data.get("ood_task"))


def _check_model(args: Mapping[str, Any], subcommand: str) -> None:
    prefix = "model.init_args."
    _positive(args, prefix, POSITIVE_MODEL)
    for name in NON_NEGATIVE_MODEL:
        value = args.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value < 0:
            raise ConfigError(f"{prefix}{name}", value, "must be >= 0 (0: greedy accuracy only)")
    hidden, heads = args.get("hidden_size"), args.get("num_heads")
    if isinstance(hidden, int) and isinstance(heads, int) and heads > 0 and hidden % heads:
        raise ConfigError(f"{prefix}hidden_size", hidden, f"is not divisible by num_heads ({heads})")
    if (dropout := args.get("lora_dropout")) is not None:
        _probability(f"{prefix}lora_dropout", dropout)
    if "num_generations" in args:  # GRPO
        _check_grpo(args)
    init_from = args.get("init_from")
    if isinstance(init_from, str) and not Path(init_from).exists() and subcommand == "fit":
        raise ConfigError(f"{prefix}init_from", init_from, "does not exist", _how_to_make(init_from))


def _check_grpo(args: Mapping[str, Any]) -> None:
    prefix = "model.init_args."
    generations = args.get("num_generations")
    if isinstance(generations, int) and generations < 2:
        raise ConfigError(f"{prefix}num_generations", generations, "must be >= 2", "advantages are relative to the group")
    temperature = args.get("temperature")
    if isinstance(temperature, int | float) and temperature <= 0:
        raise ConfigError(f"{prefix}temperature", temperature, "must be > 0 for rollouts", "GRPO samples; use e.g. 1.0")
    top_p = args.get("top_p")
    if isinstance(top_p, int | float) and not 0.0 < top_p <= 1.0:
        raise ConfigError(f"{prefix}top_p", top_p, "must be in (0, 1]")
    eps, eps_high = args.get("epsilon"), args.get("epsilon_high")
    if isinstance(eps, int | float) and eps < 0:
        raise ConfigError(f"{prefix}epsilon", eps, "must be >= 0")
    if isinstance(eps, int | float) and isinstance(eps_high, int | float) and eps_high < eps:
        raise ConfigError(f"{prefix}epsilon_high", eps_high, f"is smaller than epsilon ({eps})", "set epsilon_high >= epsilon or null")
    micro = args.get("micro_batch_size")
    if isinstance(micro, int) and micro < 1:
        raise ConfigError(f"{prefix}micro_batch_size", micro, "must be >= 1 (or null: the whole batch)")
    for name in ("beta", "max_refills", "top_k"):
        value = args.get(name)
        if isinstance(value, int | float) and value < 0:
            raise ConfigError(f"{prefix}{name}", value, "must be >= 0")


def _how_to_make(path: str) -> str:
    """Which command writes ``runs/<stage>/<name>/...``: the config of the same name, if it is shipped."""
    parts = Path(path).parts
    if "runs" in parts:
        i = parts.index("runs")
        if len(parts) > i + 2:
            config = Path("configs", parts[i + 1], f"{parts[i + 2]}.yaml")
            if config.exists():
                return f"it is written by `bilight fit --config {config}`; run that first (or point init_from at another checkpoint)"
    return "pass a .ckpt written by bilight or a save_pretrained folder"
