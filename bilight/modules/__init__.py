"""LightningModules (thin): SFT and GRPO over a shared causal-LM base."""

from bilight.modules.common import LMModule, WarmupCosine
from bilight.modules.sft import SFTModule

__all__ = ["LMModule", "SFTModule", "WarmupCosine"]
