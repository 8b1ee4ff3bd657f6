"""What the SFT and GRPO modules share: building or loading the causal LM, LoRA, the schedule,
the tokenizer and the judge (both handed over by the CLI or the caller, never fetched from the data
module), and greedy validation.

The model is either any Hugging Face causal LM (``name_or_path``: a local folder or a hub name,
loaded with ``from_pretrained``), or, when ``name_or_path`` is None, a small Llama-style model
built from config for the task tokenizer. LoRA (peft) is optional on either.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, cast

import lightning as L
import torch
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch.optim.lr_scheduler import LambdaLR
from torchmetrics import Metric
from transformers import AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM, PreTrainedModel, PreTrainedTokenizerBase
from typing_extensions import override

from bilight.checkpoint import check_shapes, read_checkpoint
from bilight.data.judge import Judge
from bilight.data.tokenizer import tokenizer_files
from bilight.errors import CheckpointError
from bilight.metrics.streaming import MeanAccuracy, PassAtK
from bilight.modules.grpo_batch import take_members
from bilight.rollout import Sampling, sample_and_judge
from bilight.types import Rollouts


def build_model(
    tokenizer: PreTrainedTokenizerBase,
    name_or_path: str | None = None,
    hidden_size: int = 128,
    num_layers: int = 4,
    num_heads: int = 2,
    intermediate_size: int | None = None,
    max_position_embeddings: int = 1024,
    dtype: str = "float32",
    seed: int = 0,
    trust_remote_code: bool = False,
) -> PreTrainedModel:
    """Load ``name_or_path`` with ``from_pretrained``, or build a fresh Llama-style model for ``tokenizer``."""
    torch_dtype = getattr(torch, dtype)
    if name_or_path is not None:
        return AutoModelForCausalLM.from_pretrained(name_or_path, dtype=torch_dtype, trust_remote_code=trust_remote_code)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=intermediate_size or 4 * hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        num_key_value_heads=num_heads,
        max_position_embeddings=max_position_embeddings,
        tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.bos_token_id,
    )
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    return model.to(torch_dtype)


def add_lora(model: PreTrainedModel, r: int, alpha: int, dropout: float, target_modules: Sequence[str]) -> PreTrainedModel:
    """Wrap ``model`` with a fresh LoRA adapter (B initialised to zero, so the model is unchanged)."""
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=list(target_modules), task_type="CAUSAL_LM")
    return get_peft_model(model, config)  # type: ignore[return-value]


class WarmupCosine(LambdaLR):
    """Linear warm-up, then cosine decay to ``min_ratio`` of the peak learning rate.

    Args:
        optimizer: the optimizer (passed by the module).
        warmup_steps: steps of linear warm-up from 0.
        total_steps: steps until the floor; ``None`` takes ``trainer.max_steps`` (set by the module,
            which never reads ``trainer.estimated_stepping_batches``: that resets the dataloader state).
        min_ratio: floor as a fraction of the peak.
    """

    def __init__(
        self, optimizer: torch.optim.Optimizer, warmup_steps: int = 50, total_steps: int | None = None, min_ratio: float = 0.1
    ) -> None:
        self.warmup_steps = warmup_steps
        self.total_steps = total_steps
        self.min_ratio = min_ratio
        super().__init__(optimizer, self.factor)

    def factor(self, step: int) -> float:
        if step < self.warmup_steps:
            return (step + 1) / max(1, self.warmup_steps)
        if self.total_steps is None or self.total_steps <= self.warmup_steps:
            return 1.0
        progress = min(1.0, (step - self.warmup_steps) / (self.total_steps - self.warmup_steps))
        return self.min_ratio + (1 - self.min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def default_optimizer(params: Any) -> torch.optim.Optimizer:
    return torch.optim.AdamW(params, lr=2e-3, betas=(0.9, 0.95), weight_decay=0.0)


class LMModule(L.LightningModule):
    """Base of `SFTModule` and `GRPOModule`: owns the causal LM, its tokenizer and the optimizer.

    Args:
        tokenizer: linked from the data module (``data.tokenizer``); never set in YAML.
        judge: linked from the data module (``data.judge``): split problems and their verifier; never set in YAML.
        name_or_path: any Hugging Face causal LM (local folder or hub name); None builds a small
            Llama-style model from the size arguments below.
        hidden_size: width of the model built from config.
        num_layers: transformer blocks of the model built from config.
        num_heads: attention heads of the model built from config.
        intermediate_size: MLP width (default 4 x hidden).
        dtype: parameter dtype (``float32`` or ``bfloat16``).
        lora_r: LoRA rank; 0 trains all parameters.
        lora_alpha: LoRA scaling.
        lora_dropout: LoRA dropout.
        lora_target_modules: module names that receive adapters.
        init_from: weights to start from: a Lightning ``.ckpt`` of an `LMModule` or a
            ``save_pretrained`` folder (e.g. the SFT model GRPO starts from).
        max_new_tokens: generation budget for greedy validation (and for test and predict).
        test_num_samples: samples per test problem for ``test/avg@k`` and ``test/pass@k`` (0: greedy only).
        test_temperature: sampling temperature of those samples (`GRPOModule` samples with its rollout settings instead,
            i.e. at the training temperature).
        optimizer: optimizer factory (``OptimizerCallable``); default AdamW lr 2e-3, betas (0.9, 0.95).
        scheduler: learning-rate schedule factory; default `WarmupCosine`.
        seed: seed of the freshly built model's initial weights.
        trust_remote_code: let ``from_pretrained`` run the Python code a hub model ships (off: only
            architectures transformers knows load).
    """

    def __init__(
        self,
        tokenizer: PreTrainedTokenizerBase | None = None,
        judge: Judge | None = None,
        name_or_path: str | None = None,
        hidden_size: int = 128,
        num_layers: int = 4,
        num_heads: int = 2,
        intermediate_size: int | None = None,
        dtype: str = "float32",
        lora_r: int = 0,
        lora_alpha: int = 16,
        lora_dropout: float = 0.0,
        lora_target_modules: Sequence[str] = ("q_proj", "v_proj"),
        init_from: str | None = None,
        max_new_tokens: int = 256,
        test_num_samples: int = 4,
        test_temperature: float = 1.0,
        optimizer: OptimizerCallable = default_optimizer,
        scheduler: LRSchedulerCallable = WarmupCosine,
        seed: int = 0,
        trust_remote_code: bool = False,
    ) -> None:
        super().__init__()
        if tokenizer is None:
            raise ValueError(
                "model.tokenizer is missing: it is linked from the data module by the CLI; in code pass tokenizer=datamodule.tokenizer"
            )
        self.save_hyperparameters(ignore=["tokenizer", "judge", "optimizer", "scheduler"])
        self.tokenizer = tokenizer
        self._judge = judge
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.max_new_tokens = max_new_tokens
        self.test_num_samples, self.test_temperature = test_num_samples, test_temperature
        self.model: PreTrainedModel = build_model(
            tokenizer, name_or_path, hidden_size, num_layers, num_heads, intermediate_size, dtype=dtype, seed=seed,
            trust_remote_code=trust_remote_code,
        )  # fmt: skip
        if init_from is not None:
            load_weights(self.model, init_from, trust_remote_code)
        if lora_r > 0:
            self.model = add_lora(self.model, lora_r, lora_alpha, lora_dropout, lora_target_modules)
        self._tokens_seen = 0
        self._t0 = time.perf_counter()
        self.accuracy = torch.nn.ModuleDict()  # validation metrics by logged name, created on first use

    @property
    def judge(self) -> Judge:
        """The split problems and their verifier (``data.judge``)."""
        if self._judge is None:
            raise ValueError("model.judge is missing: it is linked from the data module by the CLI; in code pass judge=datamodule.judge")
        return self._judge

    @property
    def greedy_sampling(self) -> Sampling:
        """Greedy decoding with the module's budget (validation)."""
        return Sampling(greedy=True, max_new_tokens=self.max_new_tokens)

    @property
    def test_sampling(self) -> Sampling:
        """How test completions are sampled for avg@k and pass@k."""
        return Sampling(num_samples=self.test_num_samples, temperature=self.test_temperature, max_new_tokens=self.max_new_tokens)

    @override
    def test_step(self, batch: dict[str, torch.Tensor], batch_idx: int, dataloader_idx: int = 0) -> dict[str, Any]:
        """Greedy accuracy and, with ``test_num_samples`` k > 0, avg@k and unbiased pass@k on a test split.

        Logs ``test/acc_id``, ``test/avg@k_id``, ``test/pass@k_id`` (``_ood`` on ``test_ood``) and returns the
        per-problem record that `bilight.callbacks.EvaluationWriter` saves: ``split``, ``index`` ``[B]``,
        ``greedy`` ``[B]`` 0/1, ``samples`` ``[B, k]`` 0/1, and the greedy texts and extracted answers.
        """
        split = self.judge.test_splits[dataloader_idx]
        # Own generator, seeded by the batch: two checkpoints evaluated with the same config see the same noise.
        seed = 2_000_029 * (dataloader_idx + 1) + batch_idx
        greedy, sampled = self.judge_batch(batch, split, "test", self.test_sampling, self.test_num_samples, seed)
        record: dict[str, Any] = {"split": split, "index": batch["index"], "greedy": greedy.correct, "texts": greedy.texts}
        record["predicted"] = [v.predicted for v in greedy.verdicts]
        if sampled is not None:
            record["samples"] = sampled
        return record

    def judge_batch(
        self, batch: dict[str, torch.Tensor], split: str, prefix: str, sampling: Sampling, k: int, seed: int
    ) -> tuple[Rollouts, torch.Tensor | None]:
        """Greedy accuracy of a batch of ``split``'s prompts and, with ``k`` > 0, avg@k and pass@k of k samples drawn
        with ``sampling`` from a generator seeded by ``seed``; logged as ``<prefix>/acc_<id|ood>``, ``<prefix>/avg@k_...``
        and ``<prefix>/pass@k_...``. Returns the judged greedy rollouts and the ``[B, k]`` sampled verdicts (None when k = 0)."""
        suffix = "ood" if split.endswith("ood") else "id"
        out: Rollouts | None = None
        generator = torch.Generator(device=self.device).manual_seed(seed) if k > 0 else None
        if k > 0 and self.folds_greedy(sampling):
            # One prefill and one decode loop, member 0 of each group greedy and the k samples after it: the same tokens and
            # the same generator advance as a greedy call plus a sampling call (`greedy_first`), in one loop instead of two.
            both = sample_and_judge(
                self.model, self.tokenizer, batch, split, sampling.with_(num_samples=k + 1, greedy_first=True), self.judge, generator
            )
            greedy, out = take_members(both, 0, 1), take_members(both, 1, k + 1)
        else:
            greedy = self.greedy_rollouts(batch, split)
            if k > 0:
                out = sample_and_judge(self.model, self.tokenizer, batch, split, sampling.with_(num_samples=k), self.judge, generator)
        self.log_accuracy(f"{prefix}/acc_{suffix}", greedy.grouped(greedy.correct))
        if out is None:
            return greedy, None
        sampled = out.grouped(out.correct)
        self.log_accuracy(f"{prefix}/avg@{k}_{suffix}", sampled)
        self.log_accuracy(f"{prefix}/pass@{k}_{suffix}", sampled, make=partial(PassAtK, k))
        return greedy, sampled

    def folds_greedy(self, sampling: Sampling) -> bool:
        """Whether the greedy completion can be decoded in the sampling loop: same budget, no stop strings, a temperature."""
        return (
            sampling.max_new_tokens == self.max_new_tokens
            and not sampling.stop_strings
            and not sampling.greedy
            and sampling.temperature > 0
        )

    @override
    def predict_step(self, batch: dict[str, torch.Tensor], batch_idx: int, dataloader_idx: int = 0) -> list[dict[str, Any]]:
        """Greedy completions of a batch of test prompts with their verdicts, one JSON-ready row per problem."""
        split = self.judge.test_splits[dataloader_idx]
        out = self.greedy_rollouts(batch, split)
        return [
            {"split": split, "index": int(i), "prompt": self.judge.prompt(split, int(i)), "completion": text,
             "predicted": v.predicted, "correct": v.correct, "answer": str(self.judge.problem(split, int(i)).answer)}
            for i, text, v in zip(batch["index"].tolist(), out.texts, out.verdicts, strict=True)
        ]  # fmt: skip

    def eval_split(self, dataloader_idx: int) -> str:
        """The validation split a dataloader index stands for."""
        return self.judge.eval_splits[dataloader_idx]

    def greedy_rollouts(self, batch: dict[str, torch.Tensor], split: str) -> Rollouts:
        """Greedy completions of a batch of ``split``'s prompts, judged."""
        return sample_and_judge(self.model, self.tokenizer, batch, split, self.greedy_sampling, self.judge)

    def log_accuracy(self, name: str, correct: torch.Tensor, make: Callable[[], Metric] = MeanAccuracy) -> None:
        """Accumulate ``correct`` into the epoch metric ``name`` (default `MeanAccuracy`; torchmetrics reduces it over ranks) and log it."""
        if name not in self.accuracy:
            self.accuracy[name] = make().to(self.device)
        metric = cast(Metric, self.accuracy[name])
        metric.update(correct)
        self.log(
            name,
            metric,
            on_step=False,
            on_epoch=True,
            add_dataloader_idx=False,
            prog_bar="/acc_" in name,
            metric_attribute=f"accuracy.{name}",
        )

    @override
    def on_train_epoch_start(self) -> None:
        self.reset_speed()

    @property
    def uses_lora(self) -> bool:
        return self.hparams["lora_r"] > 0

    @override
    def configure_optimizers(self) -> Any:
        params = [p for p in self.parameters() if p.requires_grad]
        optimizer = self.optimizer_factory(params)
        scheduler = self.scheduler_factory(optimizer)
        if isinstance(scheduler, WarmupCosine) and scheduler.total_steps is None and self.trainer.max_steps > 0:
            scheduler.total_steps = self.trainer.max_steps
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def count_tokens(self, n: int) -> float:
        """Add ``n`` trained tokens; return tokens per second since the last call to `reset_speed`.

        ``train/tokens_per_sec`` in SFT and GRPO alike: non-padding tokens (prompt and completion) of
        the rows the optimizer steps train on, per second of wall time since the epoch began (in GRPO
        the wall time includes generation).
        """
        self._tokens_seen += n
        return self._tokens_seen / max(1e-9, time.perf_counter() - self._t0)

    def reset_speed(self) -> None:
        self._tokens_seen = 0
        self._t0 = time.perf_counter()

    @override
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Store the tokenizer's files, so a run starting from this checkpoint (``init_from``) uses the same tokenizer."""
        checkpoint["tokenizer"] = tokenizer_files(self.tokenizer)

    def export(self, path: str) -> None:
        """``save_pretrained`` the model (LoRA merged) and the tokenizer, loadable with plain transformers."""
        model = self.model
        if self.uses_lora:
            model = model.merge_and_unload()  # type: ignore[operator]
        model.save_pretrained(path)
        self.tokenizer.save_pretrained(path)


def load_weights(model: PreTrainedModel, source: str, trust_remote_code: bool = False) -> None:
    """Copy weights into ``model`` from a Lightning checkpoint of an `LMModule` or a ``save_pretrained`` folder.

    Nothing in the file runs as code: a ``.ckpt`` is read with ``weights_only=True`` (`read_checkpoint`),
    a folder with ``from_pretrained`` (safetensors, or ``weights_only`` pickles) without remote code
    unless ``trust_remote_code``. Shapes are compared before copying, so a checkpoint of another
    model size or tokenizer is refused with the reason.
    """
    from pathlib import Path

    path = Path(source)
    if not path.exists():
        raise CheckpointError(f"model.init_from: {source} does not exist; pass a .ckpt written by bilight or a save_pretrained folder")
    if path.is_dir():
        state = AutoModelForCausalLM.from_pretrained(source, trust_remote_code=trust_remote_code).state_dict()
    else:
        ckpt = read_checkpoint(source, "model.init_from")
        if not isinstance(ckpt.get("state_dict"), dict):
            raise CheckpointError(f"model.init_from: {source} has no 'state_dict'; is it a Lightning checkpoint written by bilight?")
        prefix = "model."
        state = {k[len(prefix) :]: v for k, v in ckpt["state_dict"].items() if k.startswith(prefix)}
        if any(".lora_" in k or k.startswith("base_model.") for k in state):
            raise CheckpointError(f"model.init_from: {source} holds a LoRA model; pass its merged export (<run>/hf_model) instead")
    check_shapes(state, model.state_dict(), "model.init_from", source)
    model.load_state_dict(state, strict=False)
