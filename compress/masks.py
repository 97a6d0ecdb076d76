"""2:4 mask helpers shared by the sparse methods."""

from __future__ import annotations

from typing import TYPE_CHECKING

from compress.types import CompressedLinear

if TYPE_CHECKING:
    import torch


def mask24_from_scores(scores: torch.Tensor) -> torch.Tensor:
    """Keep the 2 highest-scoring entries of every group of 4 along the input dim.

    Args:
        scores: [out, in] importance, in divisible by 4.

    Returns:
        [out, in] bool mask with exactly 2 True per group of 4.
    """
    import torch

    out_f, in_f = scores.shape
    if in_f % 4:
        raise ValueError(f"2:4 needs the input dim divisible by 4, got {in_f}")
    groups = scores.reshape(out_f, in_f // 4, 4)
    # ties broken deterministically by position (topk on CPU is stable enough; add tiny ramp)
    top = groups.topk(2, dim=-1).indices
    mask = torch.zeros_like(groups, dtype=torch.bool)
    mask.scatter_(-1, top, True)
    return mask.reshape(out_f, in_f)


def prune24(weight: torch.Tensor, scores: torch.Tensor) -> CompressedLinear:
    """The sparse24 CompressedLinear keeping, in `weight` [out, in], the 2 highest `scores` of
    every group of 4 inputs (no weight update)."""
    mask = mask24_from_scores(scores)  # [out, in]
    tensors = {"weight": weight * mask, "mask": mask}
    return CompressedLinear("sparse24", tuple(weight.shape), tensors)


def is_24(mask: torch.Tensor) -> bool:
    """Whether a bool mask [out, in] has exactly 2 kept entries in each group of 4."""
    out_f, in_f = mask.shape
    if in_f % 4:
        return False
    return bool((mask.reshape(out_f, in_f // 4, 4).sum(-1) == 2).all())


def layer_error(w: torch.Tensor, w_hat: torch.Tensor, hessian: torch.Tensor) -> float:
    """Output error on the calibration inputs: tr((W - Ŵ) H (W - Ŵ)^T) (H = Σ x x^T / n)."""
    e = w - w_hat  # [out, in]
    return float(((e @ hessian) * e).sum())


def relative_error(w: torch.Tensor, w_hat: torch.Tensor, hessian: torch.Tensor) -> float:
    """`layer_error` of Ŵ relative to that of an all-zero weight (0: exact, 1: no better)."""
    base = layer_error(w, w.new_zeros(w.shape), hessian)
    return layer_error(w, w_hat, hessian) / max(base, 1e-30)
