"""The judge keeps only the problems it used last, and building a prompt split does not fill it."""

from __future__ import annotations

from bilight.data.judge import Judge
from bilight.testing import tiny_datamodule, tiny_task


def test_the_judge_keeps_the_most_recently_used_problems_only() -> None:
    task = tiny_task()
    judge = Judge({"rl": task.split("rl")}, {"rl": 10}, "{question}", eval_splits=(), keep=3)
    first = judge.problem("rl", 0)
    assert judge.problem("rl", 0) is first  # kept: built once
    for i in (1, 2, 0, 3):  # 0 was used again, so 1 is the least recent when 3 arrives
        judge.problem("rl", i)
    assert list(judge._problems) == [("rl", 2), ("rl", 0), ("rl", 3)]
    again = judge.problem("rl", 1)  # dropped, so built anew: the same problem
    assert again is not None and again.question == task.split("rl").problem(1).question
    assert len(judge._problems) == 3


def test_building_a_prompt_split_keeps_no_problem_in_the_judge() -> None:
    dm = tiny_datamodule(num_rl=50, train_split="rl")
    dm.setup("fit")
    assert len(dm.datasets["rl"]) == 50
    assert not any(split == "rl" for split, _ in dm.judge._problems)
    assert dm.datasets["rl"][7]["prompt"] == dm.prompt(dm.judge.problem("rl", 7).question)  # the same prompt the judge would build
