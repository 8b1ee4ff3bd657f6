"""`Judge`: the one place where completions become verdicts.

Why an object and not a data-module method: the modules and callbacks that sample completions
(SFT and GRPO validation, GRPO rollouts, the probe callbacks, the evaluation script) must not reach
into ``trainer.datamodule`` at run time. The data module builds the split tasks once and hands this
object out; the CLI links it into the model the way it links the tokenizer, and callbacks take it
from the module they are given. It holds:

* the split tasks (``task.split(name)``, held-out ones filtered against the training questions);
* the problems it judged last (an LRU cache of ``keep`` problems), so verifying 2G completions of a prompt does
  not regenerate it, while a long GRPO run does not keep every problem of its 20,000-prompt split (a problem
  of the iGSM task with its dependency graph holds ~8 KB of Python objects);
* the prompt template, so a caller that has only ``(split, index)`` can build the prompt text;
* the split sizes and the order of the validation splits (the validation dataloaders' order).

No torch here: verdicts are `bilight.types.Verdict`s; `bilight.rollout.sample_and_judge` turns them
into tensors.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence

from bilight.tasks.base import Task
from bilight.types import Problem, Verdict


class Judge:
    """Problems, prompts and verdicts of every split, by ``(split, index)``.

    Args:
        tasks: the task of each split (``{"val_id": ..., "rl": ...}``).
        sizes: number of problems of each split.
        prompt_template: how a question becomes a prompt (contains ``{question}``).
        eval_splits: validation splits in dataloader order (``val_id``, then ``val_ood`` if any).
        test_splits: test splits in dataloader order (``test``, then ``test_ood`` if any).
        keep: problems kept built (least recently used dropped first).
    """

    def __init__(
        self,
        tasks: Mapping[str, Task],
        sizes: Mapping[str, int],
        prompt_template: str,
        eval_splits: Sequence[str],
        test_splits: Sequence[str] = (),
        keep: int = 4096,
    ) -> None:
        self.tasks, self.sizes = dict(tasks), dict(sizes)
        self.prompt_template, self.eval_splits, self.test_splits = prompt_template, tuple(eval_splits), tuple(test_splits)
        self.keep = keep
        self._problems: OrderedDict[tuple[str, int], Problem] = OrderedDict()

    def task(self, split: str) -> Task:
        if split not in self.tasks:
            raise ValueError(f"the judge has no {split!r} split (it has {', '.join(self.tasks)}); is data.ood_task set?")
        return self.tasks[split]

    def problem(self, split: str, index: int) -> Problem:
        """Problem ``index`` of ``split``, built on first use and kept while it is among the ``keep`` most recently used."""
        key = (split, int(index))
        problem = self._problems.get(key)
        if problem is None:
            problem = self._problems[key] = self.task(split).problem(int(index))
            if len(self._problems) > self.keep:
                self._problems.popitem(last=False)
        else:
            self._problems.move_to_end(key)
        return problem

    def problems(self, split: str, indices: Sequence[int]) -> list[Problem]:
        return [self.problem(split, i) for i in indices]

    def prompt(self, split: str, index: int) -> str:
        return self.prompt_template.format(question=self.problem(split, index).question)

    def size(self, split: str) -> int:
        return self.sizes[split]

    def __call__(self, split: str, indices: Sequence[int], texts: Sequence[str]) -> list[Verdict]:
        """The verdict on ``texts[j]`` as an answer to problem ``indices[j]`` of ``split``."""
        task = self.task(split)
        return [task.verify(self.problem(split, i), t) for i, t in zip(indices, texts, strict=True)]
