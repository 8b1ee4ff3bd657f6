import json
import math

import pytest

from bilight.experiment.cell import cell_record, paired_gain
from bilight.experiment.results import headline, load_cells, render_markdown, summarize


def rows(split, greedy, samples):
    return [{"split": split, "index": i, "greedy": g, "samples": s} for i, (g, s) in enumerate(zip(greedy, samples, strict=True))]


def test_paired_gain_pairs_by_index():
    before = {i: r for i, r in enumerate(rows("s", [0, 0, 1, 1], [[0, 0]] * 4))}
    after = {i: r for i, r in enumerate(rows("s", [1, 0, 1, 1], [[1, 1], [0, 0], [0, 0], [0, 0]]))}
    gain = paired_gain(before, after)
    assert gain["greedy"]["mean"] == pytest.approx(0.25)
    assert gain["greedy"]["se"] == pytest.approx(math.sqrt(0.25 / 4))
    assert gain["avg@2"]["mean"] == pytest.approx(0.25)
    with pytest.raises(ValueError, match="share no problem"):
        paired_gain(before, {9: after[0]})


def make_cell(recipe, seed, gain, alpha_mean):
    n = 20
    before = rows("test", [0] * n, [[0, 0]] * n)
    right = round(gain * n)
    after = rows("test", [1] * right + [0] * (n - right), [[1, 0]] * n)
    return cell_record(recipe, seed, before, after, {"mean_alpha": alpha_mean, "informative_mass": alpha_mean / 2})


def test_summary_headline_and_correlation(tmp_path):
    cells = [make_cell("vanilla", s, g, a) for s, g, a in [(0, 0.10, 0.1), (1, 0.15, 0.2), (2, 0.05, 0.15)]]
    cells += [make_cell("bridge", s, g, a) for s, g, a in [(0, 0.30, 0.4), (1, 0.35, 0.5), (2, 0.25, 0.45)]]
    for c in cells:
        folder = tmp_path / c["recipe"] / str(c["seed"])
        folder.mkdir(parents=True)
        (folder / "cell.json").write_text(json.dumps(c))
    loaded = load_cells(tmp_path)
    assert [(c["recipe"], c["seed"]) for c in loaded][:2] == [("bridge", 0), ("bridge", 1)]
    seeds = {"vanilla": [0, 1, 2, 3], "bridge": [0, 1, 2]}
    summary = summarize(loaded, ["vanilla", "bridge"], seeds, k=2)
    assert summary["missing"] == ["vanilla/3"]
    bridge = summary["recipes"]["bridge"]["gain"]["test"]["greedy"]
    assert bridge["mean"] == pytest.approx(0.30)
    assert bridge["sd"] == pytest.approx(0.05)
    corr = summary["correlations"]["mean_alpha"]["test/greedy"]
    assert corr["rho"] > 0.8 and corr["n"] == 6 and corr["p_value"] < 0.05
    sentence = headline(summary)
    assert "larger than vanilla's" in sentence and "+20.0" in sentence and "outside the 95% interval" in sentence
    text = render_markdown(summary, "t")
    assert "| bridge | 3 |" in text and "missing: vanilla/3" in text


def test_one_seed_headline_states_the_problem_noise_only():
    cells = [make_cell("vanilla", 0, 0.10, 0.1), make_cell("bridge", 0, 0.20, 0.2)]
    summary = summarize(cells, ["vanilla", "bridge"], {"vanilla": [0, 1], "bridge": [0]}, k=2)
    bridge = summary["recipes"]["bridge"]["gain"]["test"]["greedy"]
    # 4 of 20 problems flip 0 -> 1: per-problem gains have mean 0.2 and sample variance 0.2 * 0.8 * 20 / 19
    assert bridge["problem_se"] == pytest.approx(math.sqrt(0.2 * 0.8 / 19))
    sentence = headline(summary)
    se = math.sqrt(bridge["problem_se"] ** 2 + summary["recipes"]["vanilla"]["gain"]["test"]["greedy"]["problem_se"] ** 2)
    assert f"+10.0 ± {100 * se:.1f} points" in sentence
    assert "test-problem noise only" in sentence and "not distinguishable" in sentence and "nan" not in sentence


def test_few_seeds_need_students_t_not_two_standard_errors():
    from bilight.experiment.results import t_critical

    assert t_critical(1.0) == 12.71 and t_critical(2.7) == 4.30 and t_critical(11) == 2.23 and t_critical(100) == 1.96
    # two seeds each: a difference of 4.2 standard errors is beyond 2 SE but inside Welch's 95% interval (df = 2)
    cells = [make_cell("vanilla", s, g, 0.1) for s, g in [(0, 0.10), (1, 0.15)]]
    cells += [make_cell("bridge", s, g, 0.1) for s, g in [(0, 0.25), (1, 0.30)]]
    summary = summarize(cells, ["vanilla", "bridge"], {"vanilla": [0, 1], "bridge": [0, 1]}, k=2)
    sentence = headline(summary)
    assert "+15.0 ± 3.5 points" in sentence and "Welch's 2.0 degrees of freedom" in sentence
    assert "inside the 95% interval: not distinguishable" in sentence


def test_sft_accuracy_is_the_yardstick_predictor_and_the_family_size_is_stated():
    n, cells = 20, []
    for seed, (start, gain) in enumerate([(0.1, 0.4), (0.2, 0.3), (0.3, 0.2), (0.4, 0.1)]):  # lower start, larger gain
        before = rows("test", [1] * round(start * n) + [0] * (n - round(start * n)), [[0, 0]] * n)
        end = round((start + gain) * n)
        after = rows("test", [1] * end + [0] * (n - end), [[0, 0]] * n)
        cells.append(cell_record("vanilla", seed, before, after, {"mean_alpha": 0.1 * seed}))
    summary = summarize(cells, ["vanilla"], {"vanilla": [0, 1, 2, 3]}, k=2)
    assert summary["correlations"]["sft_accuracy"]["test/greedy"]["rho"] == pytest.approx(-1.0)
    assert summary["correlations"]["mean_alpha"]["test/greedy"]["rho"] == pytest.approx(-1.0)
    # mean_alpha ranks the cells exactly as the SFT accuracy does: given it, nothing is left to correlate
    assert math.isnan(summary["correlations"]["mean_alpha"]["test/greedy"]["partial_rho"])
    assert "partial_rho" not in summary["correlations"]["sft_accuracy"]["test/greedy"]
    text = render_markdown(summary, "t")
    assert "| sft_accuracy | test/greedy | -1.00 |" in text and "| – | – | 4 |" in text
    assert "| rho given SFT accuracy | p |" in text and "| – | 1.000 | 4 |" in text
    assert "With 2 diagnostic tests" in text and "p < 0.0250" in text
