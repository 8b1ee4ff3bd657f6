import pytest

from bilight.metrics.evaluation import by_split, split_metrics


def rows(split, greedy, samples):
    return [{"split": split, "index": i, "greedy": g, "samples": s} for i, (g, s) in enumerate(zip(greedy, samples, strict=True))]


def test_split_metrics_by_hand():
    m = split_metrics(rows("test", [1, 0, 1, 0], [[1, 0], [0, 0], [1, 1], [0, 1]]))
    assert m["greedy"] == 0.5 and m["n"] == 4
    assert m["avg@2"] == pytest.approx((0.5 + 0 + 1 + 0.5) / 4)
    assert m["pass@2"] == pytest.approx(0.75)  # 3 of 4 problems have a correct sample
    assert "avg@0" not in split_metrics(rows("test", [1], [[]]))


def test_by_split_counts_a_repeated_record_once():
    r = rows("test", [1, 0], [[1], [0]]) + rows("test", [1], [[1]]) + rows("ood", [0], [[0]])
    grouped = by_split(r)
    assert sorted(grouped) == ["ood", "test"] and sorted(grouped["test"]) == [0, 1]
