import pytest
import torch

from bilight.data.collate import IGNORE, Collator, encode_rows
from bilight.testing import tiny_datamodule


def test_labels_mask_prompt_and_train_eos_token_by_token() -> None:
    dm = tiny_datamodule()
    dm.setup("fit")
    row = dm.datasets["train"][0]
    tok = dm.tokenizer
    prompt_ids = tok(row["prompt"], add_special_tokens=False)["input_ids"]
    completion_ids = tok(row["completion"], add_special_tokens=False)["input_ids"]
    assert row["prompt_ids"] == prompt_ids
    assert row["input_ids"] == prompt_ids + completion_ids + [tok.eos_token_id]
    for pos, (token, label) in enumerate(zip(row["input_ids"], row["labels"], strict=True)):
        if pos < len(prompt_ids):
            assert label == IGNORE, f"prompt token {pos} is trained"
        else:
            assert label == token, f"completion token {pos} is not trained"
    assert row["labels"][-1] == tok.eos_token_id
    assert tok.decode(row["input_ids"][len(prompt_ids) : -1]) == row["completion"]


def test_mask_prompt_false_trains_the_prompt_too() -> None:
    dm = tiny_datamodule()
    out = encode_rows(dm.tokenizer, ["Question: What is Lion per Oak?\nAnswer:"], [" So the answer is \\boxed{3}."], 512, mask_prompt=False)
    assert out["labels"][0] == out["input_ids"][0]


def test_collator_pads_training_right_and_prompts_left() -> None:
    rows = [
        {"input_ids": [5, 6, 7], "labels": [IGNORE, 6, 7], "prompt_ids": [5], "index": 0},
        {"input_ids": [8, 9], "labels": [IGNORE, 9], "prompt_ids": [8, 8], "index": 3},
    ]
    batch = Collator(pad_token_id=0)(rows)
    assert batch["input_ids"].tolist() == [[5, 6, 7], [8, 9, 0]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 1, 0]]
    assert batch["labels"].tolist() == [[IGNORE, 6, 7], [IGNORE, 9, IGNORE]]
    assert batch["prompt_ids"].tolist() == [[0, 5], [8, 8]]
    assert batch["prompt_mask"].tolist() == [[0, 1], [1, 1]]
    assert torch.equal(batch["index"], torch.tensor([0, 3]))


def test_too_long_completion_names_the_row_and_the_fix() -> None:
    dm = tiny_datamodule()
    try:
        encode_rows(dm.tokenizer, ["a", "b"], [" x", " x" * 50], max_length=10)
    except ValueError as err:
        assert "row 1" in str(err) and "max_length" in str(err)
    else:
        raise AssertionError("expected a ValueError")


def test_long_prompts_are_cut_on_the_left_and_counted() -> None:
    dm = tiny_datamodule()
    tok = dm.tokenizer
    long_prompt = "Lion per Oak equals 3. " * 10 + "Question: What is Lion per Oak?\nAnswer:"
    with pytest.warns(UserWarning, match="1 of 2 rows are longer than data.max_length=24"):
        out = encode_rows(tok, [long_prompt, "Answer:"], [" So 3.", " So 3."], max_length=24)
    assert len(out["input_ids"][0]) == 24 and out["input_ids"][0][-1] == tok.eos_token_id
    full = tok(long_prompt, add_special_tokens=False)["input_ids"]
    assert out["prompt_ids"][0] == full[-len(out["prompt_ids"][0]) :]  # the end of the prompt (the question) is kept
