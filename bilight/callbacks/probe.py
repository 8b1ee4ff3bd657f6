"""What the diagnostic callbacks share: when to run, which probe prompts each rank samples, and how results meet.

Why a shared base: `RolloutAccuracy` and `CoInfluence` both sample completions for a fixed, seeded
set of probe prompts (the data module's ``probe`` split), on a schedule (every N training steps
and/or at every validation run, never during the sanity check), on every DDP rank, and log numbers
that must not depend on the number of ranks. The choices that make this hold:

* **Chunks, not prompts, are split across ranks.** The first ``num_prompts`` probe prompts are cut
  into fixed chunks of ``chunk_size`` prompts; rank r samples chunks ``r, r + world, ...``. Each
  chunk is padded and sampled as one batch with its own generator, seeded from ``(seed, chunk)``,
  so a chunk's completions are the same whichever rank draws it and however many ranks there are:
  the gathered numbers equal a single process's (exactly for the counts, up to float summation
  order for gradients).
* **Rows meet by a sum.** Every rank fills the rows of the prompts it owns in a ``[M, ...]`` tensor
  of zeros; one all-reduce (sum) gives every rank the full table. Only small tensors travel
  (correctness ``[M, N]``, per-prompt statistics ``[M, d]``).
* **The training RNG is untouched.** Sampling draws from the chunk's own generator inside
  ``torch.random.fork_rng``, so adding a callback does not change the training run.
* **Same random numbers at every run.** The seeds do not depend on the step, so two checkpoints are
  compared on the same prompts with the same sampling noise (common random numbers).
"""

from __future__ import annotations

import time
import weakref
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from matplotlib.figure import Figure
from typing_extensions import override

from bilight.callbacks.summary import run_dir, save_figure
from bilight.modules.common import LMModule
from bilight.rollout import Sampling, prompt_batch, sample_and_judge
from bilight.types import Rollouts


def chunk_seed(seed: int, chunk: int) -> int:
    """32 well-mixed bits from ``(seed, chunk)`` (torch's CPU generator keeps only 32 bits of its seed)."""
    return int(np.random.SeedSequence([seed, chunk]).generate_state(1)[0])


def rank_chunks(num_prompts: int, chunk_size: int, rank: int, world_size: int) -> list[tuple[int, range]]:
    """The ``(chunk index, prompt positions)`` rank ``rank`` of ``world_size`` samples: chunks ``rank::world_size``."""
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    starts = range(0, num_prompts, chunk_size)
    chunks = [(c, range(s, min(s + chunk_size, num_prompts))) for c, s in enumerate(starts)]
    return chunks[rank::world_size]


def sample_probe(module: LMModule, rows: range, sampling: Sampling, seed: int | None = None) -> Rollouts:
    """Judged completions for probe prompts ``rows`` (their ``index`` is their position in the probe set), drawn from ``seed``'s generator.

    Seeded draws are kept until the weights change (`ProbeSamples`): `RolloutAccuracy` and `CoInfluence`
    share their chunks' seeds by design, so when both measure the same weights the second one reads the
    first one's completions instead of decoding them again (the same completions it would have drawn).
    """
    key = (rows.start, rows.stop, sampling, seed)
    cached = _SAMPLES.get(module, key) if seed is not None else None
    if cached is not None:
        return cached
    batch = {k: v.to(module.device) for k, v in prompt_batch(module.tokenizer, module.judge, "probe", list(rows)).items()}
    generator = torch.Generator(device=module.device).manual_seed(seed) if seed is not None else None
    with torch.random.fork_rng(devices=[]):
        probe = sample_and_judge(module.model, module.tokenizer, batch, "probe", sampling, module.judge, generator)
    if seed is not None:
        _SAMPLES.put(module, key, probe)
    return probe


class ProbeSamples:
    """Seeded probe completions per module, valid while its weights are the ones they were drawn from.

    The weights are identified by each parameter's storage and version counter (``Tensor._version``, which
    every in-place update bumps: an optimizer step, ``load_state_dict``, a DDP broadcast), together with the
    judge and tokenizer objects, so a cached draw is never returned for other weights or other prompts.
    """

    def __init__(self) -> None:
        self._entries: weakref.WeakKeyDictionary[LMModule, tuple[tuple[Any, ...], dict[tuple[Any, ...], Rollouts]]] = (
            weakref.WeakKeyDictionary()
        )

    @staticmethod
    def _state(module: LMModule) -> tuple[Any, ...]:
        weights = tuple((p.data_ptr(), p._version) for p in module.model.parameters())
        return (id(module.model), id(module.judge), id(module.tokenizer), weights)

    def get(self, module: LMModule, key: tuple[Any, ...]) -> Rollouts | None:
        entry = self._entries.get(module)
        return entry[1].get(key) if entry is not None and entry[0] == self._state(module) else None

    def put(self, module: LMModule, key: tuple[Any, ...], probe: Rollouts) -> None:
        state = self._state(module)
        entry = self._entries.get(module)
        if entry is None or entry[0] != state:  # other weights: the old draws can never be read again
            entry = (state, {})
            self._entries[module] = entry
        entry[1][key] = probe


_SAMPLES = ProbeSamples()


def probe_difficulty(module: LMModule, rows: range) -> torch.Tensor:
    """``[len(rows)]`` int64 difficulty (number of operations) of probe prompts ``rows``."""
    return torch.tensor([module.judge.problem("probe", i).difficulty for i in rows], dtype=torch.int64)


def reduce_sum(trainer: L.Trainer, tensor: torch.Tensor) -> torch.Tensor:
    """All-reduce (sum) over ranks; the identity on one process."""
    if trainer.world_size == 1:
        return tensor
    reduced = trainer.strategy.reduce(tensor.to(trainer.strategy.root_device), reduce_op="sum")
    return reduced.cpu()  # type: ignore[union-attr]


class ProbeCallback(L.Callback):
    """Base of the diagnostic callbacks: the schedule, the probe set, timing, logging and figures.

    The probe prompts and their verifier come from the module's judge (``module.judge``, linked by the
    CLI), never from the data module. Subclasses take these arguments through ``**kwargs``.

    Args:
        every_n_steps: also run every this many optimizer steps during fit (None: only at validation).
        on_validation: run at the end of every validation run (fit and ``validate``), except the sanity check.
        num_prompts: probe prompts (the first ones of the data module's ``probe`` split, capped by its size).
        num_samples: completions sampled per prompt (N).
        temperature: sampling temperature.
        max_new_tokens: generation budget (None: the module's ``max_new_tokens``).
        chunk_size: prompts sampled per batch (and the unit of work split across ranks).
        seed: seeds the probe generators (fixed across runs: same sampling noise at every step).
    """

    def __init__(
        self,
        every_n_steps: int | None = None,
        on_validation: bool = True,
        num_prompts: int = 64,
        num_samples: int = 8,
        temperature: float = 1.0,
        max_new_tokens: int | None = None,
        chunk_size: int = 16,
        seed: int = 0,
    ) -> None:
        if every_n_steps is not None and every_n_steps < 1:
            raise ValueError(f"every_n_steps must be >= 1 or None, got {every_n_steps}")
        if num_prompts < 1 or num_samples < 1:
            raise ValueError(f"num_prompts and num_samples must be >= 1, got {num_prompts} and {num_samples}")
        self.every_n_steps, self.on_validation = every_n_steps, on_validation
        self.num_prompts, self.num_samples, self.temperature = num_prompts, num_samples, temperature
        self.max_new_tokens, self.chunk_size, self.seed = max_new_tokens, chunk_size, seed
        self.seconds = 0.0  # wall time spent in this callback (for the overhead benchmark)
        self.metrics: dict[str, float] = {}
        self.figures: dict[str, Path] = {}
        self._last_step = -1

    # ------------------------------------------------------------------ to implement
    def measure(self, trainer: L.Trainer, module: LMModule) -> dict[str, float]:
        """Sample, gather over ranks, compute; return the scalars to log (and keep results on ``self``)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ schedule
    @override
    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int) -> None:
        step = trainer.global_step
        if self.every_n_steps and step > 0 and step % self.every_n_steps == 0 and step != self._last_step:
            self.run(trainer, pl_module)

    @override
    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.on_validation and not trainer.sanity_checking:
            if trainer.state.fn == "fit" and trainer.global_step == self._last_step:
                self._log(trainer, pl_module)  # measured at this step already (every_n_steps): log again for the validation record
                return
            self.run(trainer, pl_module)

    def run(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not isinstance(pl_module, LMModule):
            raise TypeError(
                f"{type(self).__name__}: the module must be an LMModule (SFTModule, GRPOModule), got {type(pl_module).__name__}"
            )
        start = time.perf_counter()
        was_training = pl_module.training
        pl_module.eval()
        try:
            # Validation runs under inference mode; the influence gradients need autograd back.
            with torch.inference_mode(False):
                self.metrics = self.measure(trainer, pl_module)
        finally:
            pl_module.train(was_training)
        self._last_step = trainer.global_step
        self._log(trainer, pl_module)
        self.seconds += time.perf_counter() - start

    def _log(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # Every rank holds the same (all-reduced) numbers, so no further sync is needed.
        metrics = {k: float(v) for k, v in self.metrics.items()}
        if trainer.validating:
            pl_module.log_dict(metrics, on_step=False, on_epoch=True, sync_dist=False, add_dataloader_idx=False)
            return
        # Between training steps, self.log would obey log_every_n_steps and could drop the record: write it directly.
        for logger in trainer.loggers:
            logger.log_metrics(metrics, step=trainer.global_step)
        trainer.callback_metrics.update({k: torch.tensor(v) for k, v in metrics.items()})

    # ------------------------------------------------------------------ helpers
    def probe_size(self, module: LMModule) -> int:
        return min(self.num_prompts, module.judge.size("probe"))

    def sampling(self, module: LMModule) -> Sampling:
        """The probe's sampling settings (``max_new_tokens`` None: the module's budget)."""
        budget = self.max_new_tokens if self.max_new_tokens is not None else module.max_new_tokens
        return Sampling(num_samples=self.num_samples, temperature=self.temperature, max_new_tokens=budget)

    def save_figure(self, trainer: L.Trainer, fig: Figure, name: str) -> None:
        """Save ``figures/<name with _ for />_step<N>.png`` in the run folder and add the figure to TensorBoard (rank zero)."""
        if not trainer.is_global_zero:
            return
        path = run_dir(trainer) / "figures" / f"{name.replace('/', '_')}_step{trainer.global_step:06d}.png"
        save_figure(trainer, fig, path, name)
        self.figures[name] = path
