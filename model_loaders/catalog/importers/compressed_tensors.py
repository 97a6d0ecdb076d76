"""Import llm-compressor / compressed-tensors `sparse-24-bitmask` checkpoints (vLLM refuses them).

Layout (compressed-tensors' Sparse24BitMask compressor): for each compressed layer `P`,
`P.compressed` [O, I/2] (kept values, row-major mask order), `P.bitmask` uint8 [O, ceil(I/8)]
(the dense mask's bits, little-endian within a byte) and `P.shape` (the dense shape). The
config carries `quantization_config` (or legacy `compression_config`) with
`sparsity_config.format == "sparse-24-bitmask"`. Quantized weights are not supported.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from model_loaders.checkpoint.errors import ManifestError, MaskNot24Error, TensorShapeError
from model_loaders.formats.sparse24 import Sparse24Tensors
from model_loaders.formats.writer import load_dense_state, write_state

FORMAT = "sparse-24-bitmask"


def _sparsity_config(folder: Path) -> dict[str, object]:
    config = json.loads((folder / "config.json").read_text())
    quant = config.get("quantization_config") or config.get("compression_config") or {}
    sparsity = quant.get("sparsity_config") or {}
    if sparsity.get("format") != FORMAT:
        found = sparsity.get("format")
        raise ManifestError(
            "quantization_config.sparsity_config.format", expected=FORMAT, found=found
        )
    if quant.get("config_groups"):
        raise ManifestError(
            "quantization_config.config_groups", expected="none (no quantization)", found="present"
        )
    return dict(sparsity)


def unpack_bitmask(bitmask: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """Bool mask [O, I] from packed bits [O, ceil(I/8)] (little-endian bit order)."""
    bits = (bitmask.to(torch.int32).unsqueeze(-1) >> torch.arange(8)) & 1  # [O, I/8, 8]
    return bits.reshape(shape[0], -1)[:, : shape[1]].bool()


def bitmask_layer(
    name: str, compressed: torch.Tensor, bitmask: torch.Tensor, shape: torch.Tensor
) -> Sparse24Tensors:
    """One layer's sparse24 tensors from its compressed-tensors triple."""
    o, i = (int(v) for v in shape.flatten().tolist())
    if tuple(compressed.shape) != (o, i // 2):
        raise TensorShapeError(
            f"{name}.compressed", expected=[o, i // 2], found=list(compressed.shape)
        )
    mask = unpack_bitmask(bitmask, (o, i))  # [O, I]
    per_group = mask.reshape(o, i // 4, 4).sum(-1)
    if int(per_group.max()) > 2 or int(mask.sum()) != compressed.numel():
        found = f"max {int(per_group.max())} per group, {int(mask.sum())} set bits"
        raise MaskNot24Error(f"{name}.bitmask", expected="2 of every 4 bits set", found=found)
    dense = torch.zeros(o, i, dtype=compressed.dtype)
    dense[mask] = compressed.flatten()
    return Sparse24Tensors.from_dense(dense)


def import_sparse24_bitmask(
    src: Path | str, out: Path | str, *, sparse24_mode: str = "dense"
) -> Path:
    """Convert a compressed-tensors sparse-24-bitmask folder into a structserve checkpoint.

    Args:
        src: the llm-compressor output folder.
        out: the structserve folder to write.
        sparse24_mode: default 2:4 runtime mode of the result.

    Returns:
        out. Raises ManifestError, TensorShapeError or MaskNot24Error naming the tensor.
    """
    src = Path(src)
    _sparsity_config(src)
    state = load_dense_state(src)
    layers = {}
    for key in sorted(k for k in state if k.endswith(".compressed")):
        name = key[: -len(".compressed")]
        layers[name] = bitmask_layer(
            name, state.pop(key), state.pop(f"{name}.bitmask"), state.pop(f"{name}.shape")
        )
    dtype = next((t.dtype for t in state.values() if t.is_floating_point()), torch.bfloat16)
    return write_state(src, out, state, layers, dtype=dtype, sparse24_mode=sparse24_mode)
