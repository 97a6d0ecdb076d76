"""Adapter from in-memory CompressedLinear results to the writer's format tensors.

The on-disk format is defined by docs/formats.md and written by model_loaders.formats.writer;
each format's class builds itself from our factor names (`FormatTensors.from_factors`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from compress.types import CompressedLinear
    from model_loaders.formats.base import FormatTensors


def to_format_tensors(c: CompressedLinear) -> FormatTensors:
    """The writer's tensor bundle for one compressed layer.

    Spense with axis "cols" has no on-disk format in spec v1 (rows only): it is exported as its
    dense effective weight so its quality can still be measured.
    """
    from model_loaders.formats import format_class
    from model_loaders.formats.dense import DenseTensors

    if c.fmt == "spense" and c.meta.get("axis") != "rows":
        return DenseTensors(c.dense())
    try:
        cls = format_class(c.fmt)
    except ValueError:
        raise ValueError(f"no export for format {c.fmt!r}") from None
    return cls.from_factors(c.tensors)


def stored_bytes(c: CompressedLinear, *, itemsize: int = 2) -> int:
    """Bytes this layer takes on disk in its format (floats at `itemsize`, bf16 by default)."""
    fmt_tensors = to_format_tensors(c)
    total = 0
    for tensor in fmt_tensors.tensors().values():
        size = itemsize if tensor.is_floating_point() else tensor.element_size()
        total += tensor.numel() * size
    return total
