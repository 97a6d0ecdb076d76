"""Plain truncated SVD to a target rank, and rank allocation at a target parameter ratio.

Allocation modes:
  uniform — every linear keeps the same fraction of its parameters;
  global  — one budget over all linears, spent greedily on the singular directions with the
            largest share of their layer's (whitened) energy per parameter;
  fisher  — the same greedy budget, with each direction valued by its estimated loss
            (asvd only: `compress.fisher`).
A rank at or above in·out/(in+out) costs more than the dense matrix: such layers stay dense.
"""

from __future__ import annotations

import heapq
from typing import TYPE_CHECKING

from compress.types import CompressedLinear

if TYPE_CHECKING:
    import torch


def max_useful_rank(shape: tuple[int, int]) -> int:
    """Largest rank r with r·(out+in) < out·in (beyond it dense is cheaper)."""
    out_f, in_f = shape
    return (out_f * in_f - 1) // (out_f + in_f)


def uniform_rank(shape: tuple[int, int], ratio: float) -> int:
    """Rank that keeps `ratio` of the dense parameters of a [out, in] matrix."""
    out_f, in_f = shape
    return max(1, int(ratio * out_f * in_f / (out_f + in_f)))


def allocate_ranks(
    spectra: dict[str, torch.Tensor], shapes: dict[str, tuple[int, int]], ratio: float
) -> dict[str, int]:
    """Global rank allocation under one parameter budget, by normalized energy.

    Args:
        spectra: name -> singular values (descending) of the (whitened) weight.
        shapes: name -> (out, in).
        ratio: target parameters / dense parameters over all listed linears.

    Returns:
        name -> rank; a rank above `max_useful_rank` means "keep dense".
    """
    values = {}
    for n, s in spectra.items():
        s2 = s.double() ** 2
        values[n] = s2 / (float(s2.sum()) or 1.0)
    return allocate_budget(values, shapes, ratio)


def allocate_budget(
    values: dict[str, torch.Tensor], shapes: dict[str, tuple[int, int]], ratio: float
) -> dict[str, int]:
    """Spend one parameter budget on singular directions, greedily by value per parameter.

    Args:
        values: name -> [r] value of keeping each direction, in singular-value order (a rank
            is a prefix: direction i is only taken after 0..i-1).
        shapes: name -> (out, in).
        ratio: target parameters / dense parameters over all listed linears.

    Returns:
        name -> rank; a rank above `max_useful_rank` means "keep dense".
    """
    budget = ratio * sum(o * i for o, i in shapes.values())
    ranks = dict.fromkeys(values, 0)
    spent = 0.0
    heap = [(-float(v[0]) / sum(shapes[n]), n) for n, v in values.items() if v.numel()]
    heapq.heapify(heap)
    while heap:
        _, n = heapq.heappop(heap)
        o, i = shapes[n]
        cost = o + i
        if spent + cost > budget:
            continue
        ranks[n] += 1
        spent += cost
        if ranks[n] >= max_useful_rank((o, i)):
            # switch to dense: refund the low-rank cost, pay the dense one
            extra = o * i - ranks[n] * (o + i)
            if spent + extra <= budget:
                spent += extra
                ranks[n] = min(o, i) + 1  # marker: dense
            continue
        if ranks[n] < values[n].numel():
            heapq.heappush(heap, (-float(values[n][ranks[n]]) / cost, n))
    return ranks


def lowrank_or_dense(
    weight: torch.Tensor, u: torch.Tensor, v: torch.Tensor, rank: int
) -> CompressedLinear:
    """Wrap factors as lowrank, or keep the dense weight when the rank is not worth it."""
    shape = (int(weight.shape[0]), int(weight.shape[1]))
    if rank > max_useful_rank(shape):
        return CompressedLinear("dense", shape, {"weight": weight.clone()})
    return CompressedLinear("lowrank", shape, {"u": u.contiguous(), "v": v.contiguous()})


def compress_linear(
    weight: torch.Tensor, hessian: torch.Tensor | None = None, *, rank: int
) -> CompressedLinear:
    """Truncated SVD W ≈ U_r Σ_r V_rᵀ, split as (U_r √Σ_r)(√Σ_r V_rᵀ).

    Args:
        weight: [out, in].
        hessian: unused (data-free).
        rank: kept rank.

    Returns:
        A lowrank CompressedLinear (dense if the rank does not save parameters).
    """
    import torch

    u, s, vh = torch.linalg.svd(weight.double(), full_matrices=False)
    r = min(rank, s.numel())
    root = s[:r].sqrt()
    return lowrank_or_dense(
        weight, (u[:, :r] * root).float(), (root[:, None] * vh[:r]).float(), rank
    )


def singular_values(weight: torch.Tensor, hessian: torch.Tensor | None = None) -> torch.Tensor:
    """Singular values of the plain weight (for global allocation)."""
    import torch

    return torch.linalg.svdvals(weight.double()).float()
