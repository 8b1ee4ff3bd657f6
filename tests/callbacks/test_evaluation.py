"""`bilight test`/`predict` on the tiny model: per-problem records, accuracies from them, predictions as JSON lines."""

import json

import lightning as L
import pytest
from lightning.pytorch.loggers import CSVLogger

from bilight.callbacks import EvaluationWriter
from bilight.metrics.names import describe
from bilight.modules import GRPOModule, SFTModule
from bilight.testing import TINY_MODEL, StandInJudge, tiny_datamodule


def _trainer(tmp_path, writer):
    return L.Trainer(
        accelerator="cpu", logger=CSVLogger(str(tmp_path), name="", version="run"), callbacks=[writer],
        enable_progress_bar=False, enable_model_summary=False,
    )  # fmt: skip


def _even(index: int, text: str) -> bool:
    return index % 2 == 0


@pytest.mark.parametrize("module_class", [SFTModule, GRPOModule])
def test_test_writes_per_problem_records_and_their_accuracies(tmp_path, module_class) -> None:
    dm = tiny_datamodule(num_test=6, num_test_ood=3)
    judge = StandInJudge(dm.judge, _even)
    module = module_class(tokenizer=dm.tokenizer, judge=judge, max_new_tokens=6, test_num_samples=3, **TINY_MODEL)
    writer = EvaluationWriter()
    results = _trainer(tmp_path, writer).test(module, datamodule=dm, verbose=False)
    rows = [json.loads(line) for line in (tmp_path / "run" / "per_problem.jsonl").read_text().splitlines()]
    assert [(r["split"], r["index"]) for r in rows] == [("test", i) for i in range(6)] + [("test_ood", i) for i in range(3)]
    assert all(r["greedy"] == int(r["index"] % 2 == 0) and r["samples"] == [r["greedy"]] * 3 for r in rows)
    saved = json.loads((tmp_path / "run" / "test_metrics.json").read_text())
    assert saved["test"]["greedy"] == pytest.approx(0.5) and saved["test"]["n"] == 6
    assert saved["test_ood"]["greedy"] == pytest.approx(2 / 3) and saved["test_ood"]["pass@3"] == pytest.approx(2 / 3)
    logged = {k: v for per_loader in results for k, v in per_loader.items()}
    assert logged["test/acc_id"] == pytest.approx(0.5) and logged["test/avg@3_ood"] == pytest.approx(2 / 3)
    assert all(describe(key) for key in logged)  # every logged key is in the table of metric names


def test_test_split_is_its_own_held_out_problems() -> None:
    dm = tiny_datamodule(num_test=8, num_test_ood=4)
    judge = dm.judge
    test = {judge.problem("test", i).question for i in range(8)}
    val = {judge.problem("val_id", i).question for i in range(8)}
    train = {dm.split_task("train").problem(i).question for i in range(dm.split_size("train"))}
    assert not test & train and not test & val
    assert judge.test_splits == ("test", "test_ood") and judge.size("test_ood") == 4
    assert judge.problem("test_ood", 0).difficulty == 3  # the OOD task's own test split


def test_predict_writes_completions_and_verdicts(tmp_path) -> None:
    dm = tiny_datamodule(num_test=4, num_test_ood=2)
    module = SFTModule(tokenizer=dm.tokenizer, judge=dm.judge, max_new_tokens=5, **TINY_MODEL)
    _trainer(tmp_path, EvaluationWriter()).predict(module, datamodule=dm, return_predictions=False)
    rows = [json.loads(line) for line in (tmp_path / "run" / "predictions.jsonl").read_text().splitlines()]
    assert len(rows) == 6 and rows[0]["prompt"] == dm.judge.prompt("test", 0)
    assert rows[0]["answer"] == str(dm.judge.problem("test", 0).answer)
    assert all(r["correct"] is False and isinstance(r["completion"], str) for r in rows)  # a random model boxes nothing
