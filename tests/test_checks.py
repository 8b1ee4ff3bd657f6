"""`bilight.checks` on plain config dicts: what is refused, and values that look odd but are valid."""

import pytest

from bilight.checks import check_config
from bilight.errors import ConfigError


def _config(model: dict | None = None, data: dict | None = None) -> dict:
    return {"model": {"init_args": model or {}}, "data": {"injection": "bridge", **(data or {})}, "trainer": {"max_steps": 2}}


def test_zero_samples_means_greedy_only_and_is_accepted() -> None:
    check_config(_config({"val_num_samples": 0, "test_num_samples": 0}), "fit")
    with pytest.raises(ConfigError, match=r"model.init_args.test_num_samples: must be >= 0 \(0: greedy accuracy only\) \(given: -1\)"):
        check_config(_config({"test_num_samples": -1}), "test")


def test_presets_with_a_wording_are_accepted_and_unknown_ones_named() -> None:
    check_config(_config(data={"injection": "bridge:reference"}), "fit")
    check_config(_config(data={"injection": "vanilla:compact"}), "fit")
    for bad in ("bridgee", "bridge:fancy"):
        with pytest.raises(ConfigError, match=r"data\.injection: is not a preset"):
            check_config(_config(data={"injection": bad}), "fit")
