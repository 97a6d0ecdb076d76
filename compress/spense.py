"""Spense (SpenseGPT-style hybrid): 2:4 everywhere except a dense region chosen from data.

Two variants:
  rows — prune all rows with SparseGPT, then keep dense the output rows whose calibration
         output error [(W − Ŵ) H (W − Ŵ)ᵀ]_ii is largest (rows are independent under OBS, so
         the other rows are unaffected);
  cols — keep dense the input columns with the largest OBS saliency Σ_i W_ij² / [H⁻¹]_jj,
         move them last and run SparseGPT so the pruning error of the 2:4 columns is
         compensated into them.
The checkpoint format (docs/formats.md, spec v1) stores rows only; `cols` is measured for
comparison (its layers are exported as their dense effective weight).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from compress.sparsegpt24 import sparsegpt_prune
from compress.types import CompressedLinear

if TYPE_CHECKING:
    import torch


def dense_count(dim: int, fraction: float, *, multiple: int = 1) -> int:
    """Number of dense rows/columns for a fraction of `dim`, rounded down to `multiple`."""
    n = round(fraction * dim / multiple) * multiple
    return max(0, min(dim, n))


def _others(dim: int, index: torch.Tensor) -> torch.Tensor:
    """The ascending indices in [0, dim) that are not in `index`."""
    import torch

    is_dense = torch.zeros(dim, dtype=torch.bool)
    is_dense[index] = True
    return (~is_dense).nonzero().squeeze(1)


def _rows(weight: torch.Tensor, hessian: torch.Tensor, fraction: float) -> CompressedLinear:
    out_f, in_f = weight.shape
    w_hat, mask = sparsegpt_prune(weight, hessian)
    e = weight.float() - w_hat
    row_err = ((e @ hessian.float()) * e).sum(1)  # [out]
    n = dense_count(out_f, fraction)
    dense_idx = row_err.topk(n).indices.sort().values
    sparse_idx = _others(out_f, dense_idx)
    t = {
        "dense_index": dense_idx,
        "dense_weight": weight[dense_idx].float().clone(),
        "sparse_index": sparse_idx,
        "sparse_weight": w_hat[sparse_idx],
        "sparse_mask": mask[sparse_idx],
    }
    return CompressedLinear("spense", (out_f, in_f), t, {"axis": "rows"})


def _cols(weight: torch.Tensor, hessian: torch.Tensor, fraction: float) -> CompressedLinear:
    import torch

    from compress.sparsegpt24 import inverse_hessian_chol

    out_f, in_f = weight.shape
    n = dense_count(in_f, fraction, multiple=4)
    u = inverse_hessian_chol(hessian)
    hinv_diag = (u * u).sum(0)  # diag of (H + λI)⁻¹ = UᵀU
    score = (weight.float() ** 2).sum(0) / hinv_diag  # [in]
    dense_idx = score.topk(n).indices.sort().values
    sparse_idx = _others(in_f, dense_idx)
    perm = torch.cat([sparse_idx, dense_idx])
    w_p, mask_p = sparsegpt_prune(weight[:, perm], hessian[perm][:, perm], n_sparse_cols=in_f - n)
    ns = in_f - n
    t = {
        "dense_index": dense_idx,
        "dense_weight": w_p[:, ns:].clone(),
        "sparse_index": sparse_idx,
        "sparse_weight": w_p[:, :ns].clone(),
        "sparse_mask": mask_p[:, :ns].clone(),
    }
    return CompressedLinear("spense", (out_f, in_f), t, {"axis": "cols"})


def compress_linear(
    weight: torch.Tensor, hessian: torch.Tensor, *, fraction: float = 0.1, axis: str = "rows"
) -> CompressedLinear:
    """2:4 + dense region.

    Args:
        weight: [out, in] dense weight.
        hessian: [in, in] calibration second moment.
        fraction: share of rows (or columns) kept dense.
        axis: "rows" or "cols".

    Returns:
        A spense CompressedLinear (meta["axis"] tells the variant).
    """
    if axis == "rows":
        return _rows(weight, hessian, fraction)
    if axis == "cols":
        return _cols(weight, hessian, fraction)
    raise ValueError(f"spense axis must be rows or cols, got {axis!r}")
