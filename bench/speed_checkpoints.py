"""Speed-only checkpoints: simple deterministic factorizations into every format.

These are not quality compressors (that is compress/): magnitude 2:4, truncated SVD, random
orthogonal ARMOR wrappers, SVD dictionaries. Same input and seed -> same tensors.
"""

from __future__ import annotations

import torch

from model_loaders.checkpoint.specs import Format
from model_loaders.formats.armor import ArmorTensors
from model_loaders.formats.base import FormatTensors
from model_loaders.formats.dense import DenseTensors
from model_loaders.formats.dictsparse import DictSparseTensors
from model_loaders.formats.lowrank import LowRankTensors
from model_loaders.formats.sparse24 import Sparse24Tensors, prune_magnitude24
from model_loaders.formats.spense import SpenseTensors


def _orthogonal_blocks(n: int, bs: int, generator: torch.Generator) -> torch.Tensor:
    q, _ = torch.linalg.qr(torch.randn(n, bs, bs, generator=generator))  # [n, bs, bs]
    return q


def simple_compress(
    fmt: Format | str,
    weight: torch.Tensor,
    *,
    rank: int | None = None,
    dense_rows: int | None = None,
    block_size: int = 32,
    atoms: int | None = None,
    nnz_per_column: int | None = None,
    seed: int = 0,
) -> FormatTensors:
    """Compress `weight` [O, I] into `fmt` with a simple deterministic method.

    Args:
        fmt: target format.
        weight: the dense weight.
        rank: lowrank rank (default: a quarter of min(O, I)).
        dense_rows: spense rows kept dense, the largest-norm ones (default O/8).
        block_size: armor block size.
        atoms: dictsparse dictionary size (default min(O, I)/2).
        nnz_per_column: dictsparse stored entries per column (default atoms/4).
        seed: seed of the armor wrappers.

    Returns:
        The format's tensors, in weight's dtype.
    """
    fmt = Format(fmt)
    o, i = weight.shape
    w = weight.float()
    if fmt is Format.DENSE:
        return DenseTensors(weight)
    if fmt is Format.LOWRANK:
        return LowRankTensors.from_dense(weight, rank=rank or max(1, min(o, i) // 4))
    if fmt is Format.SPARSE24:
        return Sparse24Tensors.from_dense(prune_magnitude24(weight))
    if fmt is Format.SPENSE:
        n = dense_rows if dense_rows is not None else o // 8
        rows = w.norm(dim=1).topk(n).indices.sort().values
        hybrid = prune_magnitude24(weight).clone()
        hybrid[rows] = weight[rows]
        return SpenseTensors.from_dense(hybrid, rows)
    if fmt is Format.ARMOR:
        g = torch.Generator().manual_seed(seed)
        a = _orthogonal_blocks(o // block_size, block_size, g)  # [O/bs, bs, bs]
        b = _orthogonal_blocks(i // block_size, block_size, g)  # [I/bs, bs, bs]
        core = torch.block_diag(*a.unbind(0)).t() @ w @ torch.block_diag(*b.unbind(0)).t()
        dt = weight.dtype
        return ArmorTensors.from_dense(a.to(dt), prune_magnitude24(core.to(dt)), b.to(dt))
    k = atoms or max(2, min(o, i) // 2)
    s = nnz_per_column or max(1, k // 4)
    u, sv, vh = torch.linalg.svd(w, full_matrices=False)
    root = sv[:k].sqrt()
    d = (u[:, :k] * root).to(weight.dtype)  # [O, k]
    c = (root[:, None] * vh[:k]).to(weight.dtype)  # [k, I]
    return DictSparseTensors.from_dense(d, c, nnz_per_column=s)
