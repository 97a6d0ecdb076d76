"""Engine side of the formats (torch): one file per format, found through the declaration table.

`format_class(fmt)` imports the class named by the format's row in
`model_loaders.checkpoint.specs.FORMATS`, so a new format needs no line here.
"""

from __future__ import annotations

import functools
import importlib
from typing import TYPE_CHECKING

from model_loaders.checkpoint.specs import FORMATS, Format

if TYPE_CHECKING:
    import torch

    from model_loaders.checkpoint.manifest import LayerEntry
    from model_loaders.formats.base import FormatTensors


@functools.cache
def format_class(fmt: Format | str) -> type[FormatTensors]:
    """The engine-side tensor class of `fmt` (its FormatSpec.engine_class)."""
    module, _, name = FORMATS[Format(fmt)].engine_class.partition(":")
    cls: type[FormatTensors] = getattr(importlib.import_module(module), name)
    return cls


def bundle(entry: LayerEntry, tensors: dict[str, torch.Tensor]) -> FormatTensors:
    """The format's tensor bundle from `{suffix: tensor}` (already shape/dtype-checked)."""
    return format_class(entry.format)(**tensors)
