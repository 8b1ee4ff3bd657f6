"""Tokenizers: a pretrained one by name or path, or a word-level one made for a task's vocabulary.

The task tokenizer splits text into words (with their leading space), single digits (so that
multi-digit arithmetic is learnable digit by digit), single punctuation marks and whitespace.
It is a real ``tokenizers`` object wrapped as a transformers fast tokenizer, so it saves with
``save_pretrained`` and loads back with plain ``AutoTokenizer.from_pretrained``.

A bilight checkpoint carries its tokenizer's files (`tokenizer_files`), and `load_tokenizer` reads
them back from a ``.ckpt``: a run that starts from a checkpoint (GRPO after SFT) uses exactly the
tokenizer the checkpoint was trained with, instead of rebuilding one that has to match.
"""

from __future__ import annotations

import re
import string
import tempfile
from collections.abc import Iterable
from pathlib import Path

import torch
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
from transformers import AutoTokenizer, PreTrainedTokenizerBase, PreTrainedTokenizerFast

PIECE = r" ?[A-Za-z]+| ?\d| ?[^\sA-Za-z\d]|\s"
SPECIAL_TOKENS = {"pad_token": "<pad>", "eos_token": "<eos>", "bos_token": "<bos>", "unk_token": "<unk>"}


def vocabulary_pieces(texts: Iterable[str]) -> list[str]:
    """Every piece the task tokenizer needs: words found in ``texts`` (with and without a leading
    space), digits, letters, punctuation and whitespace, in a deterministic order."""
    words: set[str] = set(string.ascii_letters) | set(string.digits)
    for text in texts:
        words.update(re.findall(r"[A-Za-z]+", text))
    pieces: set[str] = {"\n", "\t", " "}
    for word in words | set(string.punctuation):
        pieces.update((word, " " + word))
    return sorted(pieces)


def build_task_tokenizer(texts: Iterable[str]) -> PreTrainedTokenizerFast:
    """A word-level tokenizer whose vocabulary covers ``texts`` (unknown words map to ``<unk>``)."""
    specials = list(SPECIAL_TOKENS.values())
    vocab = {tok: i for i, tok in enumerate([*specials, *vocabulary_pieces(texts)])}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token=SPECIAL_TOKENS["unk_token"]))
    core.pre_tokenizer = pre_tokenizers.Split(Regex(PIECE), behavior="isolated")
    core.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(
        tokenizer_object=core,
        padding_side="left",
        clean_up_tokenization_spaces=False,
        model_max_length=4096,
        **SPECIAL_TOKENS,
    )


def tokenizer_files(tokenizer: PreTrainedTokenizerBase) -> dict[str, bytes]:
    """The files ``save_pretrained`` writes, by name (stored in checkpoints)."""
    with tempfile.TemporaryDirectory() as folder:
        tokenizer.save_pretrained(folder)
        return {p.name: p.read_bytes() for p in Path(folder).iterdir() if p.is_file()}


def load_tokenizer(name_or_path: str) -> PreTrainedTokenizerBase:
    """A pretrained tokenizer (local folder, hub name, or the one stored in a bilight ``.ckpt``) with left padding and a pad token."""
    if name_or_path.endswith(".ckpt"):
        files = torch.load(name_or_path, map_location="cpu", weights_only=False).get("tokenizer")
        if files is None:
            raise ValueError(
                f"{name_or_path} holds no tokenizer (written before bilight stored tokenizers in checkpoints); "
                "start from the run's hf_model folder instead (model.init_from: <run>/hf_model)"
            )
        with tempfile.TemporaryDirectory() as folder:
            for name, content in files.items():
                (Path(folder) / name).write_bytes(content)
            return load_tokenizer(folder)
    tokenizer = AutoTokenizer.from_pretrained(name_or_path, padding_side="left")
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is None:
            raise ValueError(f"tokenizer {name_or_path!r} has neither a pad nor an eos token; add one before training")
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer
