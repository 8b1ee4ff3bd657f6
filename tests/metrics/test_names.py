"""The table of metric names: patterns match what they promise, unknown keys fail loudly, keys are unique."""

import pytest

from bilight.metrics.names import METRICS, describe, markdown


def test_patterns_match_concrete_keys_and_nothing_else() -> None:
    assert describe("val/avg@4_id").key == "val/avg@{k}_{split}"
    assert describe("val/acc_ood").key == "val/acc_{split}"
    assert describe("probe/pass@8").key == "probe/pass@{k}"
    assert describe("probe/acc_ops_3").key == "probe/acc_ops_{d}"
    assert describe("rollout/greedy_acc").stage == "GRPO"
    with pytest.raises(KeyError, match="'val/pass@4' is not in"):
        describe("val/pass@4")  # the probe's pass@k is probe/pass@k; validation's carries a split
    with pytest.raises(KeyError):
        describe("val/acc_train")


def test_keys_are_unique_and_the_markdown_lists_them_all() -> None:
    keys = [m.key for m in METRICS]
    assert len(keys) == len(set(keys))
    table = markdown()
    assert all(f"`{k}`" in table for k in keys)
