"""Adapter from in-memory CompressedLinear results to the writer's format tensors.

The on-disk format is defined by docs/formats.md and written by model_loaders.writer; this
module only maps our factor names onto that API.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from compress.types import CompressedLinear
    from model_loaders.base import FormatTensors


def to_format_tensors(c: CompressedLinear) -> FormatTensors:
    """The writer's tensor bundle for one compressed layer.

    Spense with axis "cols" has no on-disk format in spec v1 (rows only): it is exported as its
    dense effective weight so its quality can still be measured.
    """
    from model_loaders.armor import ArmorTensors
    from model_loaders.base import DenseTensors
    from model_loaders.dictsparse import DictSparseTensors, narrow_index
    from model_loaders.lowrank import LowRankTensors
    from model_loaders.sparse24 import Sparse24Tensors
    from model_loaders.spense import SpenseTensors

    t = c.tensors
    if c.fmt == "dense":
        return DenseTensors(t["weight"])
    if c.fmt == "sparse24":
        return Sparse24Tensors.from_dense(t["weight"] * t["mask"])
    if c.fmt == "lowrank":
        return LowRankTensors(U=t["u"], V=t["v"])
    if c.fmt == "armor":
        return ArmorTensors.from_dense(t["a"], t["core"] * t["mask"], t["b"])
    if c.fmt == "dictsparse":
        index = narrow_index(t["coef_index"], int(t["dictionary"].shape[1]))  # [s, in]
        return DictSparseTensors(D=t["dictionary"], C_values=t["coef_values"], C_index=index)
    if c.fmt == "spense":
        if c.meta.get("axis") == "rows":
            return SpenseTensors.from_dense(c.dense(), t["dense_index"])
        return DenseTensors(c.dense())
    raise ValueError(f"no export for format {c.fmt!r}")


def stored_bytes(c: CompressedLinear, *, itemsize: int = 2) -> int:
    """Bytes this layer takes on disk in its format (floats at `itemsize`, bf16 by default)."""
    fmt_tensors = to_format_tensors(c)
    total = 0
    for tensor in fmt_tensors.tensors().values():
        size = itemsize if tensor.is_floating_point() else tensor.element_size()
        total += tensor.numel() * size
    return total
