import pytest
from transformers import AutoTokenizer

from bilight.testing import tiny_tokenizer


def test_numbers_split_into_digits_and_text_round_trips(tmp_path) -> None:
    tok = tiny_tokenizer()
    text = "Define Lion per Oak as a; so a = 12 - (-3) = 15. So the answer is \\boxed{-576}.\nAnswer:"
    ids = tok(text, add_special_tokens=False)["input_ids"]
    pieces = tok.convert_ids_to_tokens(ids)
    assert pieces[pieces.index(" =") + 1 : pieces.index(" =") + 3] == [" 1", "2"]
    assert "<unk>" not in pieces
    assert tok.decode(ids) == text
    tok.save_pretrained(tmp_path)
    again = AutoTokenizer.from_pretrained(tmp_path)
    assert again(text, add_special_tokens=False)["input_ids"] == ids
    assert again.padding_side == "left"
    assert again.pad_token_id == tok.pad_token_id and again.eos_token_id == tok.eos_token_id


def test_a_checkpoint_carries_its_tokenizer(tmp_path) -> None:
    import torch

    from bilight.data.tokenizer import load_tokenizer, tokenizer_files
    from bilight.testing import tiny_tokenizer

    tokenizer = tiny_tokenizer()
    torch.save({"state_dict": {}, "tokenizer": tokenizer_files(tokenizer)}, tmp_path / "a.ckpt")
    loaded = load_tokenizer(str(tmp_path / "a.ckpt"))
    assert loaded.get_vocab() == tokenizer.get_vocab() and loaded.padding_side == "left"
    text = "Alice has 12 apples.\nAnswer:"
    assert loaded(text)["input_ids"] == tokenizer(text)["input_ids"]
    torch.save({"state_dict": {}}, tmp_path / "old.ckpt")
    with pytest.raises(ValueError, match=r"holds no tokenizer.*hf_model"):
        load_tokenizer(str(tmp_path / "old.ckpt"))
