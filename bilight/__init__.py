"""bilight: behaviour injection (BRIDGE) to prepare language models for RL, then GRPO, on Lightning."""

__version__ = "0.1.0"
