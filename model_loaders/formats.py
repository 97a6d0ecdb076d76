"""Format -> tensor-bundle class, so readers can rebuild a layer from its stored tensors."""

from __future__ import annotations

import torch

from model_loaders.armor import ArmorTensors
from model_loaders.base import DenseTensors, FormatTensors
from model_loaders.dictsparse import DictSparseTensors
from model_loaders.lowrank import LowRankTensors
from model_loaders.manifest import Format, LayerEntry
from model_loaders.sparse24 import Sparse24Tensors
from model_loaders.spense import SpenseTensors

BUNDLES: dict[Format, type[FormatTensors]] = {
    Format.DENSE: DenseTensors,
    Format.LOWRANK: LowRankTensors,
    Format.SPARSE24: Sparse24Tensors,
    Format.SPENSE: SpenseTensors,
    Format.ARMOR: ArmorTensors,
    Format.DICTSPARSE: DictSparseTensors,
}


def bundle(entry: LayerEntry, tensors: dict[str, torch.Tensor]) -> FormatTensors:
    """The format's tensor bundle from `{suffix: tensor}` (already shape/dtype-checked)."""
    return BUNDLES[entry.format](**tensors)
