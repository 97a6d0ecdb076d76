"""Magnitude 2:4 pruning: keep the 2 largest |w| of every 4 input weights (no data)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from compress.masks import prune24

if TYPE_CHECKING:
    import torch

    from compress.types import CompressedLinear


def compress_linear(weight: torch.Tensor, hessian: torch.Tensor | None = None) -> CompressedLinear:
    """Prune `weight` [out, in] to 2:4 by magnitude.

    Args:
        weight: [out, in] dense weight.
        hessian: unused (the method is data-free); accepted for a uniform signature.

    Returns:
        A sparse24 CompressedLinear.
    """
    return prune24(weight, weight.abs())
