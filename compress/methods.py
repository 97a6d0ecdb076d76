"""Method registry: name -> how to compress one linear given its weight and Hessian."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from compress.options import option

if TYPE_CHECKING:
    import torch
    from torch import Tensor

    from compress.types import CompressedLinear

LOWRANK_METHODS = ("svd", "asvd")


@dataclass(frozen=True)
class MethodConfig:
    """Per-method options (validated once by the CLI; each option field is its own CLI flag).

    ratio: target parameter ratio (svd, asvd, dict), over the compressed linears.
    allocation: rank allocation for svd/asvd, "uniform", "global" or "fisher" (asvd).
    asvd_objective: "output" (SVD-LLM: output error) or "loss" (Fisher-weighted output error).
    dense_fraction: share of rows/columns kept dense (spense).
    spense_axis: "rows" (the checkpoint format) or "cols".
    dict_sparsity: s / k for dict.
    armor_iters, armor_adam_steps, armor_lr, armor_block_size, armor_hessian, armor_init:
    ARMOR options (armor_lr for A and B; the kept values get armor_lr / 10).
    ranks: HF module name -> rank, filled by a global allocation (not an option).
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


# (cfg, HF module name, weight [out, in], hessian [in, in], fisher [out] or None) -> result
Compressor = Callable[
    ["MethodConfig", str, "torch.Tensor", "torch.Tensor", "torch.Tensor | None"],
    "CompressedLinear",
]


def _sparse24(
    cfg: MethodConfig, name: str, w: Tensor, h: Tensor, fisher: Tensor | None
) -> CompressedLinear:
    from compress import magnitude24, sparsegpt24, wanda24

    if cfg.method == "magnitude24":
        return magnitude24.compress_linear(w)
    return (wanda24 if cfg.method == "wanda24" else sparsegpt24).compress_linear(w, h)


def _armor(
    cfg: MethodConfig, name: str, w: Tensor, h: Tensor, fisher: Tensor | None
) -> CompressedLinear:
    from compress import armor

    opts = armor.ArmorOptions(
        block_size=cfg.armor_block_size,
        iters=cfg.armor_iters,
        adam_steps=cfg.armor_adam_steps,
        lr=cfg.armor_lr,
        lr_values=cfg.armor_lr / 10,
        hessian=cfg.armor_hessian,
        init=cfg.armor_init,
    )
    return armor.compress_linear(w, h, options=opts)


def _spense(
    cfg: MethodConfig, name: str, w: Tensor, h: Tensor, fisher: Tensor | None
) -> CompressedLinear:
    from compress import spense

    return spense.compress_linear(w, h, fraction=cfg.dense_fraction, axis=cfg.spense_axis)


def _lowrank(
    cfg: MethodConfig, name: str, w: Tensor, h: Tensor, fisher: Tensor | None
) -> CompressedLinear:
    from compress import asvd, svd

    shape = (int(w.shape[0]), int(w.shape[1]))
    rank = cfg.ranks.get(name) or svd.uniform_rank(shape, cfg.ratio)
    if cfg.method == "svd":
        return svd.compress_linear(w, h, rank=rank)
    if cfg.asvd_objective == "loss":
        if fisher is None:
            raise ValueError(f"{name}: asvd objective 'loss' needs its output Fisher")
        return asvd.compress_linear(w, h, rank=rank, fisher=fisher)
    return asvd.compress_linear(w, h, rank=rank)


def _dict(
    cfg: MethodConfig, name: str, w: Tensor, h: Tensor, fisher: Tensor | None
) -> CompressedLinear:
    from compress import dictsparse

    return dictsparse.compress_linear(w, h, ratio=cfg.ratio, sparsity=cfg.dict_sparsity)


_COMPRESSORS: dict[str, Compressor] = {
    "magnitude24": _sparse24,
    "wanda24": _sparse24,
    "sparsegpt24": _sparse24,
    "armor": _armor,
    "spense": _spense,
    "svd": _lowrank,
    "asvd": _lowrank,
    "dict": _dict,
}
METHODS = tuple(_COMPRESSORS)  # magnitude24, wanda24, sparsegpt24, armor, spense, svd, asvd, dict


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
    compressor = _COMPRESSORS.get(cfg.method)
    if compressor is None:
        raise ValueError(f"unknown method {cfg.method!r}; choose from {', '.join(METHODS)}")
    return compressor(cfg, name, weight, hessian, fisher)
