"""Method registry: name -> how to compress one linear given its weight and Hessian."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

    from compress.types import CompressedLinear

METHODS = (
    "magnitude24",
    "wanda24",
    "sparsegpt24",
    "armor",
    "spense",
    "svd",
    "asvd",
    "dict",
)
LOWRANK_METHODS = ("svd", "asvd")


@dataclass(frozen=True)
class MethodConfig:
    """Per-method options (validated once by the CLI).

    ratio: target parameter ratio (svd, asvd, dict), over the compressed linears.
    allocation: rank allocation for svd/asvd, "uniform", "global" or "fisher" (asvd).
    asvd_objective: "output" (SVD-LLM: output error) or "loss" (Fisher-weighted output error).
    dense_fraction: share of rows/columns kept dense (spense).
    spense_axis: "rows" (the checkpoint format) or "cols".
    dict_sparsity: s / k for dict.
    armor_iters, armor_adam_steps, armor_lr, armor_block_size, armor_hessian, armor_init:
    ARMOR options (armor_lr for A and B; the kept values get armor_lr / 10).
    """

    method: str
    ratio: float = 0.7
    allocation: str = "uniform"
    asvd_objective: str = "output"
    dense_fraction: float = 0.1
    spense_axis: str = "rows"
    dict_sparsity: float = 0.5
    armor_iters: int = 30
    armor_adam_steps: int = 4
    armor_lr: float = 1e-2
    armor_block_size: int = 64
    armor_hessian: str = "full"
    armor_init: str = "sparsegpt"
    ranks: dict[str, int] = field(default_factory=dict)  # filled by global allocation


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
    from compress import (
        armor,
        asvd,
        dictsparse,
        magnitude24,
        sparsegpt24,
        spense,
        svd,
        wanda24,
    )

    m = cfg.method
    shape = (int(weight.shape[0]), int(weight.shape[1]))
    if m == "magnitude24":
        return magnitude24.compress_linear(weight)
    if m == "wanda24":
        return wanda24.compress_linear(weight, hessian)
    if m == "sparsegpt24":
        return sparsegpt24.compress_linear(weight, hessian)
    if m == "armor":
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
    if m == "spense":
        return spense.compress_linear(
            weight, hessian, fraction=cfg.dense_fraction, axis=cfg.spense_axis
        )
    if m in LOWRANK_METHODS:
        rank = cfg.ranks.get(name) or svd.uniform_rank(shape, cfg.ratio)
        if m == "svd":
            return svd.compress_linear(weight, hessian, rank=rank)
        if cfg.asvd_objective == "loss":
            if fisher is None:
                raise ValueError(f"{name}: asvd objective 'loss' needs its output Fisher")
            return asvd.compress_linear(weight, hessian, rank=rank, fisher=fisher)
        return asvd.compress_linear(weight, hessian, rank=rank)
    if m == "dict":
        return dictsparse.compress_linear(
            weight, hessian, ratio=cfg.ratio, sparsity=cfg.dict_sparsity
        )
    raise ValueError(f"unknown method {m!r}; choose from {', '.join(METHODS)}")
