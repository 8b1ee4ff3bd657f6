"""`BilightDataModule`: one data module for SFT and GRPO, applying behaviour injection.

Splits, each a pure function of the task seeds (so every rank builds the same data), each taken
from the task with ``task.split(name)`` once and, when held out, filtered against the training
questions (`bilight.tasks.base.HeldOut`): disjoint from training by content.

* ``train``: SFT rows of problems ``0..num_train-1`` of ``task``, solutions written by the
  injection policy (several rows per problem for the augmentation baselines);
* ``val_id``: ``num_val`` held-out problems of the same task;
* ``val_ood``: ``num_val`` problems of ``ood_task`` (harder: more operations), if given;
* ``rl``: prompts for GRPO, with the verifier and no completions;
* ``probe``: a small fixed prompt set for the diagnostic callbacks;
* ``test``: ``num_test`` held-out problems for the final evaluation (``bilight test``/``predict``);
* ``test_ood``: ``num_test_ood`` problems of the OOD task's own ``test`` split, if ``ood_task`` is given.

The split tasks live in a `Judge` (``datamodule.judge``), which the CLI hands to the model: the
modules and callbacks judge completions through it, never through the data module.

Tokenised splits are stored as Hugging Face ``datasets`` and cached on disk under a key of
everything that determines them; a cache entry is written to a temporary folder and renamed,
so a killed run never leaves a half-written dataset behind.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import tempfile
from pathlib import Path
from typing import Any, Literal

import lightning as L
import torch
from datasets import Dataset, load_from_disk
from torch.utils.data import DataLoader
from transformers import PreTrainedTokenizerBase
from typing_extensions import override

from bilight.data.collate import Collator, encode_rows
from bilight.data.judge import Judge
from bilight.data.sampler import GroupedShuffleSampler
from bilight.data.tokenizer import build_task_tokenizer, load_tokenizer
from bilight.injection import InjectionPolicy, expand, presets
from bilight.injection.writer import VOCABULARY
from bilight.system import release_free_memory
from bilight.tasks.base import SPLIT_NAMES, HeldOut, Questions, SplitName, Task
from bilight.types import Problem, Verdict

Split = SplitName | Literal["test_ood"]
PROMPT_SPLITS = ("rl", "probe", "test", "test_ood")


class BilightDataModule(L.LightningDataModule):
    """Tasks in, tokenised SFT rows and RL prompts out.

    Args:
        task: the training task, e.g. ``bilight.tasks.IGSM`` with ``min_ops: 1, max_ops: 3``.
        ood_task: a harder task for ``val/acc_ood`` (None: no OOD split).
        injection: a preset name (``vanilla``, ``bridge``, ``explore_only``, ``exploit_only``,
            ``answer_aug``, ``question_aug``) or an `InjectionPolicy`.
        tokenizer_name: a pretrained tokenizer, a save_pretrained folder or a bilight .ckpt (linked from ``model.name_or_path``,
            else ``model.init_from``); None builds
            a word-level tokenizer for the tasks' vocabulary.
        num_train: training problems (rows = problems x copies of the injection policy).
        equalize_steps: divide ``num_train`` by the policy's copies, so augmented recipes get the
            same number of rows (and optimizer steps per epoch) as the plain ones.
        num_val: problems per validation split.
        num_rl: prompts in the GRPO prompt stream.
        num_probe: prompts in the diagnostic probe set.
        num_test: problems of the ``test`` split (``bilight test`` and ``predict``).
        num_test_ood: problems of the ``test_ood`` split (the OOD task's test split).
        batch_size: SFT rows (or RL prompts) per training batch.
        group_by_length: sort rows by length within windows of this many global batches (less
            padding); 0 for a plain shuffle.
        eval_batch_size: prompts per validation batch.
        max_length: longest prompt + completion in tokens.
        mask_prompt: train on completion tokens only (False also trains on the prompt, as the
            reference code did).
        prompt_template: how a question becomes a prompt; must contain ``{question}``.
        cache_dir: where tokenised splits are cached (None: no cache).
        num_workers: DataLoader workers.
        train_split: what ``fit`` trains on: ``train`` (SFT rows) or ``rl`` (prompts, for GRPO).
        seed: seed of the injection RNG and of the training shuffle.
    """

    def __init__(
        self,
        task: Task,
        ood_task: Task | None = None,
        injection: str | InjectionPolicy = "bridge",
        tokenizer_name: str | None = None,
        num_train: int = 20_000,
        equalize_steps: bool = False,
        num_val: int = 200,
        num_rl: int = 20_000,
        num_probe: int = 64,
        num_test: int = 1000,
        num_test_ood: int = 500,
        batch_size: int = 32,
        group_by_length: int = 16,
        eval_batch_size: int = 100,
        max_length: int = 512,
        mask_prompt: bool = True,
        prompt_template: str = "{question}\nAnswer:",
        cache_dir: str | None = ".cache/bilight/data",
        num_workers: int = 0,
        train_split: Literal["train", "rl"] = "train",
        seed: int = 0,
    ) -> None:
        super().__init__()
        if "{question}" not in prompt_template:
            raise ValueError(f"data.prompt_template must contain '{{question}}', got {prompt_template!r}")
        self.save_hyperparameters(ignore=["task", "ood_task"])
        self.num_train, self.equalize_steps = num_train, equalize_steps
        self.num_val, self.num_rl, self.num_probe = num_val, num_rl, num_probe
        self.num_test, self.num_test_ood = num_test, num_test_ood
        self.batch_size, self.group_by_length, self.eval_batch_size = batch_size, group_by_length, eval_batch_size
        self.max_length, self.mask_prompt, self.prompt_template = max_length, mask_prompt, prompt_template
        self.cache_dir, self.num_workers, self.train_split, self.seed = cache_dir, num_workers, train_split, seed
        self.task = task
        self.ood_task = ood_task
        self.policy = presets.get(injection) if isinstance(injection, str) else injection
        self.tokenizer: PreTrainedTokenizerBase = (
            load_tokenizer(tokenizer_name)
            if tokenizer_name is not None
            else build_task_tokenizer([*task.vocabulary(), *(ood_task.vocabulary() if ood_task else []), VOCABULARY, prompt_template])
        )
        tasks = self._split_tasks()
        sizes = {s: self.split_size(s) for s in tasks}  # type: ignore[arg-type]  # the keys are split names
        self.judge = Judge(tasks, sizes, prompt_template, self.eval_split_names(), self.test_split_names())
        self.datasets: dict[str, Dataset] = {}
        self.train_sampler: GroupedShuffleSampler | None = None
        self._sampler_state: dict[str, Any] | None = None  # from a checkpoint, applied when the sampler is built

    # ------------------------------------------------------------------ problems
    def _split_tasks(self) -> dict[str, Task]:
        """Every split's task, built once: ``task.split(name)``, held-out splits without the training questions."""
        train = self.task.split("train")
        training = Questions(train, self.split_size("train"), self.cache_dir)
        tasks: dict[str, Task] = {"train": train}
        for name in SPLIT_NAMES:
            if name == "val_ood" and self.ood_task is not None:
                tasks[name] = HeldOut(self.ood_task.split(name), training)
            elif name not in ("train", "val_ood"):
                tasks[name] = HeldOut(self.task.split(name), training)
        if self.ood_task is not None:
            tasks["test_ood"] = HeldOut(self.ood_task.split("test"), training)
        return tasks

    def split_task(self, split: Split) -> Task:
        """The task that a split draws from."""
        return self.judge.task(split)

    def split_size(self, split: Split) -> int:
        if split == "train":
            return -(-self.num_train // self.policy.copies) if self.equalize_steps else self.num_train
        sizes = {"val_id": self.num_val, "val_ood": self.num_val, "rl": self.num_rl, "probe": self.num_probe}
        return (sizes | {"test": self.num_test, "test_ood": self.num_test_ood})[split]

    def problem(self, split: Split, index: int) -> Problem:
        return self.judge.problem(split, index)

    def verify(self, split: Split, index: int, completion: str) -> Verdict:
        """Judge a completion for problem ``index`` of ``split`` with its task's verifier."""
        return self.judge(split, [index], [completion])[0]

    def prompt(self, question: str) -> str:
        return self.prompt_template.format(question=question)

    # ------------------------------------------------------------------ building and caching
    def _rows(self, split: Split) -> dict[str, list[Any]]:
        task, n = self.split_task(split), self.split_size(split)
        cols: dict[str, list[Any]] = {"index": [], "prompt": [], "completion": [], "difficulty": []}
        for i in range(n):
            problem = task.problem(i)  # from the task, not the judge: building a split fills no cache
            rng = self.injection_rng(split, i)
            rows = expand(problem, self.policy, rng)
            for question, solution in rows if split == "train" else rows[:1]:  # held-out splits: the original row
                cols["index"].append(i)
                cols["prompt"].append(self.prompt(question))
                cols["completion"].append(" " + solution.text)
                cols["difficulty"].append(problem.difficulty)
        return cols

    def _build(self, split: Split) -> Dataset:
        if split in PROMPT_SPLITS:  # prompts only: GRPO and the probes sample their own completions
            # Straight from the task, one problem at a time: building the 20,000 rl prompts must not keep 20,000 problems.
            task, n = self.split_task(split), self.split_size(split)
            prompts, difficulty = [], []
            for i in range(n):
                problem = task.problem(i)
                prompts.append(self.prompt(problem.question))
                difficulty.append(problem.difficulty)
            ids = self.tokenizer(prompts, add_special_tokens=False)["input_ids"]
            return Dataset.from_dict({"index": list(range(n)), "prompt": prompts, "prompt_ids": ids, "difficulty": difficulty})
        cols = self._rows(split)
        cols.update(encode_rows(self.tokenizer, cols["prompt"], cols["completion"], self.max_length, self.mask_prompt))
        return Dataset.from_dict(cols)

    def _cache_path(self, split: Split) -> Path | None:
        if self.cache_dir is None:
            return None
        vocab = sorted(self.tokenizer.get_vocab().items())
        key = repr(
            (
                split,
                self.split_task(split),
                self.split_size(split),
                self.policy,
                self.seed,
                self.max_length,
                self.mask_prompt,
                self.prompt_template,
                vocab,
                self._fingerprint(split),
            )
        )
        return Path(self.cache_dir) / f"{split}-{hashlib.sha256(key.encode()).hexdigest()[:16]}"

    def injection_rng(self, split: Split, index: int) -> random.Random:
        """The injector's RNG for one problem: a pure function of (data seed, split, index)."""
        return random.Random(f"inject:{self.seed}:{split}:{index}")

    def _fingerprint(self, split: Split) -> list[tuple[str, str, str]]:
        """A few problems and solutions as the current code writes them, so that a change to a
        generator or the injector (same arguments, different output) never reuses a stale cache."""
        task, n = self.split_task(split), self.split_size(split)
        out = []
        for i in sorted({0, n // 3, n // 2, (2 * n) // 3, n - 1} & set(range(n))):
            problem = task.problem(i)
            question, solution = expand(problem, self.policy, self.injection_rng(split, i))[0]
            out.append((question, str(problem.answer), solution.text))
        return out

    def _load_or_build(self, split: Split) -> Dataset:
        path = self._cache_path(split)
        if path is not None and path.exists():
            return load_from_disk(str(path))
        dataset = self._build(split)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = tempfile.mkdtemp(prefix=f".{path.name}-", dir=path.parent)
            dataset.save_to_disk(tmp)
            try:
                os.replace(tmp, path)  # atomic: readers see the whole dataset or none
            except OSError:  # another process won the race; its copy is identical
                shutil.rmtree(tmp, ignore_errors=True)
            dataset = load_from_disk(str(path))
        release_free_memory()  # the objects of the build are gone; hand their heap pages back (bilight.system)
        return dataset

    def splits(self, stage: str | None) -> list[Split]:
        """Splits a stage needs: the training split (``data.train_split``) and the validation splits for fit, the
        validation splits for validate, the test splits for test and predict."""
        if stage in ("test", "predict"):
            return self.test_split_names()
        return ([self.train_split] if stage in (None, "fit") else []) + self.eval_split_names()

    def prompts(self, split: Split) -> Dataset:
        """A prompt-only split (``rl`` or ``probe``), built or loaded on first use."""
        if split not in self.datasets:
            self.datasets[split] = self._load_or_build(split)
        return self.datasets[split]

    def prompt_loader(self, split: Split, batch_size: int, shuffle: bool = False) -> DataLoader:
        """Left-padded prompt batches (``prompt_ids``, ``prompt_mask``, ``index``) of a prompt split."""
        dataset = self.prompts(split)
        sampler = self._sampler([len(x) for x in dataset["prompt_ids"]], group_batches=0) if shuffle else None
        return self._loader(dataset, batch_size, sampler, with_labels=False)

    @override
    def prepare_data(self) -> None:
        stage = self.trainer.state.fn if self.trainer is not None else None  # build only what this command reads
        for split in self.splits(None if stage is None else str(stage)):
            self._load_or_build(split)

    @override
    def setup(self, stage: str | None = None) -> None:
        for split in self.splits(stage):
            if split not in self.datasets:
                self.datasets[split] = self._load_or_build(split)

    # ------------------------------------------------------------------ loaders
    def _loader(
        self, dataset: Dataset, batch_size: int, sampler: GroupedShuffleSampler | None = None, with_labels: bool = True
    ) -> DataLoader:
        return DataLoader(
            dataset,  # type: ignore[arg-type]
            batch_size=batch_size,
            sampler=sampler,
            collate_fn=Collator(self.tokenizer.pad_token_id, with_labels),
            num_workers=self.num_workers,
            # A private generator: creating a DataLoader iterator draws a seed from it, which would
            # otherwise come from the global torch RNG and shift it differently in a resumed run.
            generator=torch.Generator().manual_seed(self.seed),
        )

    def _sampler(self, lengths: list[int], group_batches: int) -> GroupedShuffleSampler:
        """The training sampler, sharded over the trainer's ranks, continuing from a loaded checkpoint position.

        Length windows span ``group_batches`` *global* batches, so the global order (and so each
        optimizer step's rows) is the same on any number of processes with the same global batch.
        """
        trainer = self.trainer
        world, rank = (trainer.world_size, trainer.global_rank) if trainer is not None else (1, 0)
        window = self.batch_size * world * group_batches if group_batches else 1
        self.train_sampler = GroupedShuffleSampler(lengths, seed=self.seed, window=window, num_replicas=world, rank=rank)
        if self._sampler_state is not None:
            self.train_sampler.load_state_dict(self._sampler_state)
            self._sampler_state = None
        return self.train_sampler

    @override
    def train_dataloader(self) -> DataLoader:
        if self.train_split == "rl":
            return self.prompt_loader("rl", self.batch_size, shuffle=True)
        lengths = [len(ids) for ids in self.datasets["train"]["input_ids"]]
        return self._loader(self.datasets["train"], self.batch_size, self._sampler(lengths, self.group_by_length))

    # ------------------------------------------------------------------ resuming
    @override
    def state_dict(self) -> dict[str, Any]:
        """The training sampler's position, counted in rows used by finished training steps.

        The sampler runs ahead of training (Lightning and DataLoader workers prefetch), so the
        position comes from the fit loop's count of processed batches in this epoch, which
        Lightning restores consistently with the rest of the loop state.
        """
        if self.train_sampler is None:
            return {}
        trainer = self.trainer
        if trainer is not None and trainer.state.fn == "fit":
            batches = trainer.fit_loop.epoch_loop.batch_progress.current.processed  # type: ignore[attr-defined]
            self.train_sampler.consumed = batches * self.batch_size * self.train_sampler.num_replicas
        return {"train_sampler": self.train_sampler.state_dict()}

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Keep the sampler position; Lightning calls this before it asks for the train dataloader."""
        self._sampler_state = state_dict.get("train_sampler")

    @override
    def val_dataloader(self) -> list[DataLoader]:
        return [self._loader(self.datasets[s], self.eval_batch_size) for s in self.splits("validate")]

    @override
    def test_dataloader(self) -> list[DataLoader]:
        """Prompt batches of the test splits (``test``, then ``test_ood``), in `test_split_names` order."""
        return [self.prompt_loader(s, self.eval_batch_size) for s in self.test_split_names()]

    @override
    def predict_dataloader(self) -> list[DataLoader]:
        return self.test_dataloader()

    def test_split_names(self) -> list[Split]:
        """Names of the test splits, in dataloader order."""
        return ["test", *(["test_ood"] if self.ood_task is not None else [])]  # type: ignore[list-item]

    def eval_split_names(self) -> list[Split]:
        """Names of the validation splits, in dataloader order."""
        return ["val_id", *(["val_ood"] if self.ood_task is not None else [])]  # type: ignore[list-item]
