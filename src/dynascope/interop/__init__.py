"""Bridges to other tools: import PyTorch recurrent networks (torch is imported only when used)."""

from dynascope.interop.torch import from_torch

__all__ = ["from_torch"]
