"""Dictionary + column-sparse coefficients (CoSpaDi / ROCKET style): W ≈ D · C.

D [out, k] is a dense dictionary; each column of C [k, in] has exactly s non-zeros, so each
input's weight column is a combination of s atoms of its own choosing (a union of subspaces,
richer than one rank-k subspace at equal storage).

Fit (our own, closed form throughout):
1. D₀ = leading k left singular vectors of W·L (L Lᵀ = H: activation-whitened, data-aware).
2. Support of each column: the s largest |D₀ᵀ w_j| (exact sparse projection for orthonormal D).
3. Alternate `refits` times: C values per column by least squares on the fixed support;
   D = W H Cᵀ (C H Cᵀ)⁻¹, the closed-form minimizer of the calibration output error
   tr((W − DC) H (W − DC)ᵀ).
Budget: params = out·k + s·in = ratio·out·in with s = round(sparsity·k).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from compress.asvd import whitening
from compress.types import CompressedLinear

if TYPE_CHECKING:
    import torch


def atoms_for_ratio(shape: tuple[int, int], ratio: float, sparsity: float) -> tuple[int, int]:
    """(k, s) with out·k + s·in ≈ ratio·out·in and s ≈ sparsity·k."""
    out_f, in_f = shape
    k = int(ratio * out_f * in_f / (out_f + sparsity * in_f))
    k = max(1, min(k, out_f * 2))
    s = max(1, min(k, round(sparsity * k)))
    return k, s


def _fit_values(
    d: torch.Tensor, w: torch.Tensor, support: torch.Tensor, *, chunk: int = 256
) -> torch.Tensor:
    """Per-column least squares: values [s, in] of w_j ≈ D[:, support_j] c."""
    import torch

    gram = d.T @ d  # [k, k]
    dtw = d.T @ w  # [k, in]
    s, in_f = support.shape
    eye = torch.eye(s, dtype=d.dtype)
    out = torch.empty(s, in_f, dtype=d.dtype)
    ridge = 1e-6 * gram.diagonal().mean()
    for j0 in range(0, in_f, chunk):
        sup = support[:, j0 : j0 + chunk].T  # [c, s]
        g = gram[sup[:, :, None], sup[:, None, :]] + ridge * eye  # [c, s, s]
        rhs = dtw[sup, torch.arange(j0, j0 + sup.shape[0])[:, None]]  # [c, s]
        out[:, j0 : j0 + chunk] = torch.linalg.solve(g, rhs[..., None]).squeeze(-1).T
    return out


def _coef(values: torch.Tensor, support: torch.Tensor, k: int) -> torch.Tensor:
    import torch

    c = torch.zeros(k, values.shape[1], dtype=values.dtype)
    return c.scatter_(0, support, values)


def _refit_dictionary(w: torch.Tensor, h: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """D = W H Cᵀ (C H Cᵀ)⁻¹ [out, k], the output-error minimizer for fixed C [k, in]."""
    import torch

    chc = c @ h @ c.T  # [k, k]
    chc.diagonal().add_(1e-9 * chc.diagonal().mean().clamp_min(1e-30))
    return torch.linalg.solve(chc, (w @ h @ c.T).T).T


def compress_linear(
    weight: torch.Tensor,
    hessian: torch.Tensor,
    *,
    ratio: float = 0.7,
    sparsity: float = 0.5,
    refits: int = 1,
) -> CompressedLinear:
    """Dictionary-sparse factorization of `weight` [out, in] at a parameter ratio.

    Args:
        weight: [out, in].
        hessian: [in, in] calibration second moment.
        ratio: target (values) parameters / dense parameters.
        sparsity: s / k, the share of atoms each column uses.
        refits: alternations of the closed-form C and D refits.

    Returns:
        A dictsparse CompressedLinear.
    """
    import torch

    out_f, in_f = weight.shape
    k, s = atoms_for_ratio((out_f, in_f), ratio, sparsity)
    w = weight.double()
    h = hessian.double()
    h_damped = h + 0.01 * h.diagonal().mean().clamp_min(1e-8) * torch.eye(in_f, dtype=h.dtype)
    u, _, _ = torch.linalg.svd(w @ whitening(hessian), full_matrices=False)
    if k <= u.shape[1]:
        d = u[:, :k].clone()
    else:  # over-complete: pad with random unit atoms (seeded by the caller's generator)
        extra = torch.randn(out_f, k - u.shape[1], dtype=w.dtype)
        d = torch.cat([u, extra / extra.norm(dim=0)], dim=1)
    support = (d.T @ w).abs().topk(s, dim=0).indices.sort(dim=0).values  # [s, in]
    values = _fit_values(d, w, support)
    for _ in range(refits):
        d = _refit_dictionary(w, h_damped, _coef(values, support, k))
        values = _fit_values(d, w, support)
    d = _refit_dictionary(w, h_damped, _coef(values, support, k))
    return CompressedLinear(
        "dictsparse",
        (out_f, in_f),
        {"dictionary": d.float(), "coef_values": values.float(), "coef_index": support},
        {"atoms": k, "nnz_per_column": s},
    )
