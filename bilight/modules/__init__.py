"""LightningModules (thin): SFT and GRPO over a shared causal-LM base."""

from bilight.modules.common import LMModule, WarmupCosine
from bilight.modules.grpo import GRPOModule
from bilight.modules.sft import SFTModule

__all__ = ["GRPOModule", "LMModule", "SFTModule", "WarmupCosine"]
