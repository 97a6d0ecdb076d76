"""SparseGPT 2:4 (Frantar & Alistarh, 2023): OBS pruning with a second-order weight update.

Columns are processed left to right in blocks; within each group of 4 inputs the 2 weights with
the smallest OBS saliency w² / [H⁻¹]_jj² are removed, and the error is propagated to the
remaining columns through the Cholesky factor of H⁻¹. Columns listed in `frozen_cols` are never
pruned (they only absorb updates) — Spense's per-column variant uses this.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from compress.types import CompressedLinear

if TYPE_CHECKING:
    import torch


def inverse_hessian_chol(hessian: torch.Tensor, *, damp: float = 0.01) -> torch.Tensor:
    """Upper Cholesky factor of (H + λI)⁻¹ with λ = damp · mean(diag H).

    Args:
        hessian: [n, n] symmetric PSD.
        damp: relative dampening.

    Returns:
        [n, n] upper-triangular U with UᵀU = (H + λI)⁻¹.
    """
    import torch

    h = hessian.double().clone()
    dead = h.diagonal() == 0
    h[dead, dead] = 1.0
    lam = damp * h.diagonal().mean()
    h.diagonal().add_(lam)
    chol = torch.linalg.cholesky(h)
    hinv = torch.cholesky_inverse(chol)
    return torch.linalg.cholesky(hinv, upper=True).float()


def sparsegpt_prune(
    weight: torch.Tensor,
    hessian: torch.Tensor,
    *,
    n_sparse_cols: int | None = None,
    blocksize: int = 128,
    damp: float = 0.01,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Prune the first `n_sparse_cols` columns of `weight` to 2:4 with OBS updates.

    Args:
        weight: [out, in] dense weight (columns already in processing order).
        hessian: [in, in] calibration second moment in the same column order.
        n_sparse_cols: how many leading columns are pruned 2:4 (default all); the rest stay dense
            and only receive updates. Must be divisible by 4.
        blocksize: columns per lazy-update block (multiple of 4).
        damp: relative Hessian dampening.

    Returns:
        (updated weight [out, in], mask [out, in] bool; True where kept).
    """
    import torch

    w = weight.clone().float()
    _out_f, in_f = w.shape
    n_sparse = in_f if n_sparse_cols is None else n_sparse_cols
    if n_sparse % 4:
        raise ValueError(f"n_sparse_cols must be divisible by 4, got {n_sparse}")
    dead = hessian.diagonal() == 0
    w[:, dead] = 0
    hinv = inverse_hessian_chol(hessian, damp=damp)  # [in, in] upper
    mask = torch.ones_like(w, dtype=torch.bool)
    for i1 in range(0, in_f, blocksize):
        i2 = min(i1 + blocksize, in_f)
        w1 = w[:, i1:i2].clone()  # [out, b]
        err1 = torch.zeros_like(w1)
        hinv1 = hinv[i1:i2, i1:i2]
        for i in range(i2 - i1):
            col = i1 + i
            if col < n_sparse and col % 4 == 0:
                d = hinv1.diagonal()[i : i + 4]  # [4]
                sal = w1[:, i : i + 4] ** 2 / d[None, :] ** 2  # [out, 4]
                drop = sal.topk(2, dim=1, largest=False).indices
                mask[:, col : col + 4].scatter_(1, drop, False)
            wcol = w1[:, i]
            q = wcol * mask[:, col] if col < n_sparse else wcol
            err = (wcol - q) / hinv1[i, i]
            w1[:, i:] -= err[:, None] * hinv1[i, i:][None, :]
            w1[:, i] = q
            err1[:, i] = err
        w[:, i1:i2] = w1
        w[:, i2:] -= err1 @ hinv[i1:i2, i2:]
    return w * mask, mask


def compress_linear(weight: torch.Tensor, hessian: torch.Tensor) -> CompressedLinear:
    """Prune `weight` [out, in] to 2:4 with SparseGPT (default block width and dampening).

    Args:
        weight: [out, in] dense weight.
        hessian: [in, in] calibration second moment.

    Returns:
        A sparse24 CompressedLinear.
    """
    w, mask = sparsegpt_prune(weight, hessian)
    return CompressedLinear("sparse24", tuple(weight.shape), {"weight": w, "mask": mask})
