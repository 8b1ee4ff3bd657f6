import pytest
import torch

from bilight.rewards import FormatReward, LengthPenalty, Reward, score
from bilight.tasks import IGSM
from bilight.types import Verdict

TASK = IGSM(min_ops=1, max_ops=2, seed=0, max_distractors=0)


def test_score_keeps_binary_correctness_apart_from_the_shaped_total() -> None:
    problem = TASK.problem(0)
    completions = [f"so \\boxed{{{problem.answer}}}", f"so \\boxed{{{problem.answer + 1}}}", "no answer"]
    verdicts = [TASK.verify(problem, c) for c in completions]
    scores = score(completions, [problem] * 3, verdicts, [FormatReward(weight=0.1)])
    assert scores.correct.tolist() == [1.0, 0.0, 0.0]
    assert scores.rewards.tolist() == pytest.approx([1.1, 0.1, 0.0])
    assert scores.terms["format"].tolist() == [1.0, 1.0, 0.0]


def test_without_extra_rewards_the_reward_is_correctness() -> None:
    problem = TASK.problem(1)
    completions = [f"\\boxed{{{problem.answer}}}", "\\boxed{x}"]
    scores = score(completions, [problem] * 2, [TASK.verify(problem, c) for c in completions])
    assert torch.equal(scores.rewards, scores.correct) and scores.terms == {}


def test_length_penalty_is_zero_within_budget_then_linear() -> None:
    penalty = LengthPenalty(weight=1.0, budget=10)
    verdict = Verdict(False, None)
    problem = TASK.problem(0)
    assert penalty("x" * 10, problem, verdict) == 0.0
    assert penalty("x" * 15, problem, verdict) == pytest.approx(-0.5)
    with pytest.raises(ValueError, match="budget"):
        LengthPenalty(budget=0)


def test_score_rejects_mismatched_lengths_and_base_reward_is_abstract() -> None:
    with pytest.raises(ValueError, match="2 completions"):
        score(["a", "b"], [TASK.problem(0)], [Verdict(False, None)])
    with pytest.raises(NotImplementedError):
        Reward()("a", TASK.problem(0), Verdict(False, None))
