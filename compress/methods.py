"""Method registry: name -> how to compress one linear given its weight and Hessian."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from compress.options import option

if TYPE_CHECKING:
    import torch

    from compress.types import CompressedLinear

LOWRANK_METHODS = ("svd", "asvd")


@dataclass(frozen=True)
class MethodConfig:
    """Per-method options, validated once by the CLI. Each `option(...)` field is its own CLI
    flag and documented by its help; `ranks` (HF module name -> rank) is filled by a global
    allocation (compress/allocation.py).
    """

    method: str
    ratio: float = option(0.7, "target parameter ratio of the decoder linears (svd, asvd, dict)")
    allocation: str = option(
        "uniform",
        "rank allocation for svd/asvd: same ratio per layer, one global budget by "
        "normalized energy, or (asvd) one global budget by estimated loss (output Fisher)",
        choices=("uniform", "global", "fisher"),
    )
    asvd_objective: str = option(
        "output",
        "asvd: minimize each layer's output error (SVD-LLM), or its estimated loss "
        "(output error weighted by the dense model's output-channel Fisher)",
        choices=("output", "loss"),
    )
    dense_fraction: float = option(0.1, "spense: share of rows/cols kept dense")
    spense_axis: str = option(
        "rows",
        "spense dense region: output rows (the v1 format) or input columns (measured only)",
        choices=("rows", "cols"),
    )
    dict_sparsity: float = option(0.5, "dict: nnz per column / atoms")
    armor_iters: int = option(30, "ARMOR outer iterations per layer")
    armor_adam_steps: int = option(4, "ARMOR Adam steps per outer iteration")
    armor_lr: float = option(1e-2, "ARMOR Adam lr of A, B (values: lr / 10)")
    armor_block_size: int = option(64, "ARMOR wrapper block size")
    armor_hessian: str = option(
        "full",
        "ARMOR proxy loss weighting: diag(H) (paper) or full H (exact output error)",
        choices=("diag", "full"),
    )
    armor_init: str = option("sparsegpt", "ARMOR core init", choices=("wanda", "sparsegpt"))
    ranks: dict[str, int] = field(default_factory=dict)  # filled by global allocation


def is_data_free(method: MethodConfig) -> bool:
    """Methods that need no calibration pass (their error is reported with H = I)."""
    return method.method == "magnitude24" or (
        method.method == "svd" and method.allocation == "uniform"
    )


def needs_fisher(method: MethodConfig) -> bool:
    """Whether a run needs the dense model's output Fisher (compress/fisher.py)."""
    return method.method == "asvd" and (
        method.allocation == "fisher" or method.asvd_objective == "loss"
    )


METHODS = ("magnitude24", "wanda24", "sparsegpt24", "armor", "spense", "svd", "asvd", "dict")


def compress_one(
    cfg: MethodConfig,
    name: str,
    weight: torch.Tensor,
    hessian: torch.Tensor,
    fisher: torch.Tensor | None = None,
) -> CompressedLinear:
    """Compress one linear layer with the configured method.

    Args:
        cfg: method and options.
        name: HF module name (used to look up an allocated rank).
        weight: [out, in] float32.
        hessian: [in, in] float32 calibration second moment.
        fisher: [out] output-channel Fisher (asvd with objective "loss" only).

    Returns:
        The CompressedLinear.
    """
    from compress import armor, asvd, dictsparse, magnitude24, sparsegpt24, spense, svd, wanda24

    method = cfg.method
    if method == "magnitude24":
        return magnitude24.compress_linear(weight)
    if method in ("wanda24", "sparsegpt24"):
        return (wanda24 if method == "wanda24" else sparsegpt24).compress_linear(weight, hessian)
    if method == "armor":
        opts = armor.ArmorOptions(
            block_size=cfg.armor_block_size,
            iters=cfg.armor_iters,
            adam_steps=cfg.armor_adam_steps,
            lr=cfg.armor_lr,
            lr_values=cfg.armor_lr / 10,
            hessian=cfg.armor_hessian,
            init=cfg.armor_init,
        )
        return armor.compress_linear(weight, hessian, options=opts)
    if method == "spense":
        return spense.compress_linear(
            weight, hessian, fraction=cfg.dense_fraction, axis=cfg.spense_axis
        )
    if method == "dict":
        return dictsparse.compress_linear(
            weight, hessian, ratio=cfg.ratio, sparsity=cfg.dict_sparsity
        )
    if method not in LOWRANK_METHODS:
        raise ValueError(f"unknown method {method!r}; choose from {', '.join(METHODS)}")
    shape = (int(weight.shape[0]), int(weight.shape[1]))
    rank = cfg.ranks.get(name) or svd.uniform_rank(shape, cfg.ratio)
    if method == "svd":
        return svd.compress_linear(weight, hessian, rank=rank)
    by_loss = cfg.asvd_objective == "loss"
    if by_loss and fisher is None:
        raise ValueError(f"{name}: asvd objective 'loss' needs its output Fisher")
    return asvd.compress_linear(weight, hessian, rank=rank, fisher=fisher if by_loss else None)
