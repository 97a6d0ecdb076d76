"""Activation-aware (whitened) SVD, as in SVD-LLM (Wang et al., 2024).

With H = Σ x xᵀ / n = L Lᵀ (Cholesky), the output error ‖(W − Ŵ) X‖² = ‖(W − Ŵ) L‖², so the
best rank-r Ŵ truncates the SVD of W L: W L ≈ U_r Σ_r V_rᵀ, Ŵ = (U_r √Σ_r)(√Σ_r V_rᵀ L⁻¹).
The discarded σ² are exactly the calibration output error.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from compress.svd import lowrank_or_dense

if TYPE_CHECKING:
    import torch

    from compress.types import CompressedLinear


def whitening(hessian: torch.Tensor, *, damp: float = 0.01) -> torch.Tensor:
    """Lower Cholesky factor L of H + λI (λ = damp · mean diag H), float64."""
    import torch

    h = hessian.double().clone()
    lam = damp * h.diagonal().mean().clamp_min(1e-8)
    h.diagonal().add_(lam)
    return torch.linalg.cholesky(h)


def singular_values(weight: torch.Tensor, hessian: torch.Tensor) -> torch.Tensor:
    """Singular values of W L (the whitened spectrum used for global allocation)."""
    import torch

    return torch.linalg.svdvals(weight.double() @ whitening(hessian)).float()


def fisher_scores(
    weight: torch.Tensor, hessian: torch.Tensor, fisher: torch.Tensor
) -> torch.Tensor:
    """Estimated loss of dropping each whitened singular direction (compress/fisher.py).

    Args:
        weight: [out, in].
        hessian: [in, in] calibration second moment.
        fisher: [out] mean squared loss gradient per output channel.

    Returns:
        [min(out, in)] σ_i² · Σ_o fisher_o · u_{o,i}², in singular-value order.
    """
    import torch

    u, s, _ = torch.linalg.svd(weight.double() @ whitening(hessian), full_matrices=False)
    return (s**2 * (fisher.double()[:, None] * u**2).sum(dim=0)).float()


def compress_linear(
    weight: torch.Tensor, hessian: torch.Tensor, *, rank: int, damp: float = 0.01
) -> CompressedLinear:
    """Whitened truncated SVD of `weight` [out, in] at `rank`.

    Args:
        weight: [out, in].
        hessian: [in, in] calibration second moment.
        rank: kept rank.
        damp: relative dampening of H before the Cholesky factorization.

    Returns:
        A lowrank CompressedLinear (dense if the rank does not save parameters).
    """
    import torch

    chol = whitening(hessian, damp=damp)  # [in, in] lower
    u, s, vh = torch.linalg.svd(weight.double() @ chol, full_matrices=False)
    r = min(rank, s.numel())
    root = s[:r].sqrt()
    # V' = √Σ V_rᵀ L⁻¹  <=>  V' L = √Σ V_rᵀ  (solve on the right)
    v = torch.linalg.solve_triangular(chol, (root[:, None] * vh[:r]), upper=False, left=False)
    return lowrank_or_dense(weight, (u[:, :r] * root).float(), v.float(), rank)
