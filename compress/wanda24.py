"""Wanda 2:4 (Sun et al., 2023): score |W_ij| · ‖X_j‖₂, keep the top 2 of every 4 inputs.

No weight update. ‖X_j‖ comes from the calibration Hessian diagonal (H_jj = mean x_j²).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from compress.masks import prune24

if TYPE_CHECKING:
    import torch

    from compress.types import CompressedLinear


def compress_linear(weight: torch.Tensor, hessian: torch.Tensor) -> CompressedLinear:
    """Prune `weight` [out, in] to 2:4 with the Wanda score.

    Args:
        weight: [out, in] dense weight.
        hessian: [in, in] calibration second moment Σ x xᵀ / n.

    Returns:
        A sparse24 CompressedLinear.
    """
    col_norm = hessian.diagonal().clamp_min(0).sqrt()  # [in]
    return prune24(weight, weight.abs() * col_norm[None, :])
