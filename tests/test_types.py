import pytest
import torch

from bilight.types import Rollouts, Verdict


def _rollouts() -> Rollouts:
    # 2 prompts x 3 members; row lengths 1, 3, 2 | 2, 1, 4 (4 columns, 0 = pad)
    mask = torch.tensor([[1, 0, 0, 0], [1, 1, 1, 0], [1, 1, 0, 0], [1, 1, 0, 0], [1, 0, 0, 0], [1, 1, 1, 1]])
    ids = mask * torch.arange(1, 7)[:, None]
    return Rollouts(
        prompt_ids=torch.ones(2, 2, dtype=torch.long), prompt_mask=torch.ones(2, 2, dtype=torch.long),
        completion_ids=ids, completion_mask=mask, logprobs=-mask.float(), truncated=torch.tensor([0, 0, 0, 0, 0, 1]).bool(),
        texts=tuple("abcdef"), correct=torch.tensor([1.0, 0, 0, 1, 1, 0]),
        verdicts=tuple(Verdict(bool(c), None) for c in [1, 0, 0, 1, 1, 0]), index=torch.tensor([7, 9]), split="test",
    )  # fmt: skip


def test_members_split_groups_and_cut_padding_columns() -> None:
    r = _rollouts()
    first, rest = r.members(0, 1), r.members(1, 3)
    assert first.group_size == 1 and rest.group_size == 2 and first.num_prompts == rest.num_prompts == 2
    assert first.completion_ids.tolist() == [[1, 0], [4, 4]]  # rows 0 and 3; the longest of them is 2 tokens
    assert rest.completion_ids.tolist() == [[2, 2, 2, 0], [3, 3, 0, 0], [5, 0, 0, 0], [6, 6, 6, 6]]
    assert first.texts == ("a", "d") and rest.texts == ("b", "c", "e", "f")
    assert first.correct.tolist() == [1.0, 1.0] and [v.correct for v in rest.verdicts] == [False, False, True, False]
    assert rest.truncated.tolist() == [False, False, False, True] and first.logprobs.tolist() == [[-1.0, 0.0], [-1.0, -1.0]]
    assert torch.equal(first.index, r.index) and first.split == "test" and first.rewards is None
    with pytest.raises(ValueError, match="members"):
        r.members(2, 4)
