"""Everything between problems and tensors: the data module, collation and tokenizers."""

from bilight.data.datamodule import BilightDataModule
from bilight.data.tokenizer import build_task_tokenizer, load_tokenizer

__all__ = ["BilightDataModule", "build_task_tokenizer", "load_tokenizer"]
