"""Problem families whose solutions are DAGs with verifiable answers (no torch, no Lightning)."""

from bilight.dag import ProblemDAG
from bilight.tasks.base import Task
from bilight.tasks.dyval import DyVal
from bilight.tasks.gsm8k import GSM8KFormat
from bilight.tasks.igsm import IGSM
from bilight.tasks.verify import extract_boxed, verify_answer

__all__ = ["IGSM", "DyVal", "GSM8KFormat", "ProblemDAG", "Task", "extract_boxed", "verify_answer"]
