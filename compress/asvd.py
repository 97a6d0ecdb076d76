"""Activation-aware (whitened) SVD, as in SVD-LLM (Wang et al., 2024).

With H = Σ x xᵀ / n = L Lᵀ (Cholesky), the output error ‖(W − Ŵ) X‖² = ‖(W − Ŵ) L‖², so the
best rank-r Ŵ truncates the SVD of W L: W L ≈ U_r Σ_r V_rᵀ, Ŵ = (U_r √Σ_r)(√Σ_r V_rᵀ L⁻¹).
The discarded σ² are exactly the calibration output error.

Objective "loss" (`--asvd-objective loss`): weight each output channel by g_o = √(d_o + δ·mean d),
d the output-channel Fisher of `compress.fisher`, and truncate G W L instead: the discarded σ²
are then the estimated loss increase of the truncation (½ Σ_o d_o mean_t Δy², damped by δ), and
Ŵ = G⁻¹ (U_r √Σ_r)(√Σ_r V_rᵀ L⁻¹).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from compress.svd import lowrank_or_dense

if TYPE_CHECKING:
    import torch

    from compress.types import CompressedLinear

# δ: share of the mean Fisher added to every channel's weight (keeps G⁻¹ bounded)
FISHER_DAMP = 0.1


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


def loss_weights(fisher: torch.Tensor) -> torch.Tensor:
    """Output-channel weights g = √(d + δ·mean d) [out], float64, from the Fisher d [out]."""
    d = fisher.double()
    return (d + FISHER_DAMP * d.mean()).sqrt()


def fisher_scores(
    weight: torch.Tensor, hessian: torch.Tensor, fisher: torch.Tensor, *, weighted: bool = False
) -> torch.Tensor:
    """Estimated loss of dropping each whitened singular direction (compress/fisher.py).

    Args:
        weight: [out, in].
        hessian: [in, in] calibration second moment.
        fisher: [out] mean squared loss gradient per output channel.
        weighted: the directions of the loss objective (G W L) instead of the output one (W L).

    Returns:
        [min(out, in)] in singular-value order: σ_i² of G W L when `weighted`, else
        σ_i² · Σ_o fisher_o · u_{o,i}² for W L's directions.
    """
    import torch

    chol = whitening(hessian)
    if weighted:
        return (
            torch.linalg.svdvals(loss_weights(fisher)[:, None] * weight.double() @ chol) ** 2
        ).float()
    u, s, _ = torch.linalg.svd(weight.double() @ chol, full_matrices=False)
    return (s**2 * (fisher.double()[:, None] * u**2).sum(dim=0)).float()


def compress_linear(
    weight: torch.Tensor,
    hessian: torch.Tensor,
    *,
    rank: int,
    fisher: torch.Tensor | None = None,
) -> CompressedLinear:
    """Whitened truncated SVD of `weight` [out, in] at `rank`.

    Args:
        weight: [out, in].
        hessian: [in, in] calibration second moment.
        rank: kept rank.
        fisher: [out] output-channel Fisher: minimize the estimated loss instead of the output
            error (module docstring).

    Returns:
        A lowrank CompressedLinear (dense if the rank does not save parameters).
    """
    import torch

    chol = whitening(hessian)  # [in, in] lower (H dampened by 1%)
    g = None if fisher is None else loss_weights(fisher)  # [out]
    target = weight.double() if g is None else g[:, None] * weight.double()
    u, s, vh = torch.linalg.svd(target @ chol, full_matrices=False)
    r = min(rank, s.numel())
    root = s[:r].sqrt()
    # V' = √Σ V_rᵀ L⁻¹  <=>  V' L = √Σ V_rᵀ  (solve on the right)
    v = torch.linalg.solve_triangular(chol, (root[:, None] * vh[:r]), upper=False, left=False)
    left = u[:, :r] * root  # [out, r]
    if g is not None:
        left = left / g[:, None]
    return lowrank_or_dense(weight, left.float(), v.float(), rank)
