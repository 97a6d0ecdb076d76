"""Import checkpoints saved by the ARMOR reference code (exported to safetensors).

Layout per layer `P` (the state dict of its ARMOR_Linear, saved with safetensors instead of
torch.save, which structserve never reads): `P.A.diag_blocks` [O/bs, bs, bs],
`P.B.diag_blocks` [I/bs, bs, bs], `P.naive_compression_module.X` (the core's kept values:
1-D [O·I/2] in row-major mask order, or the masked dense [O, I]) and
`P.naive_compression_module.sparse_mask` (bool [O, I], 2:4 along the inputs). Ŵ = A·S·B.
Normalizer tensors (`P.normalizer.*`) must be folded into A/B before export: they are refused.
"""

from __future__ import annotations

from pathlib import Path

import torch

from model_loaders.checkpoint.errors import MaskNot24Error, TensorShapeError, UnexpectedTensorError
from model_loaders.formats.armor import ArmorTensors
from model_loaders.formats.writer import load_dense_state, write_state

A_KEY, B_KEY = ".A.diag_blocks", ".B.diag_blocks"
X_KEY, MASK_KEY = ".naive_compression_module.X", ".naive_compression_module.sparse_mask"


def armor_layer(
    name: str, a: torch.Tensor, b: torch.Tensor, x: torch.Tensor, mask: torch.Tensor
) -> ArmorTensors:
    """One layer's armor tensors from the reference layout."""
    mask = mask.bool()
    o, i = mask.shape
    if int(mask.reshape(o, i // 4, 4).sum(-1).max()) > 2:
        raise MaskNot24Error(f"{name}{MASK_KEY}", expected="<= 2 of every 4 inputs", found="more")
    core = torch.zeros(o, i, dtype=x.dtype)
    if x.dim() == 1:
        if x.numel() != int(mask.sum()):
            raise TensorShapeError(
                f"{name}{X_KEY}", expected=[int(mask.sum())], found=list(x.shape)
            )
        core[mask] = x
    else:
        core = x * mask
    return ArmorTensors.from_dense(a, core, b)


def import_armor(src: Path | str, out: Path | str, *, sparse24_mode: str = "dense") -> Path:
    """Convert an HF folder whose ARMOR layers use the reference layout.

    Args:
        src: HF folder (config.json, tokenizer, safetensors with the keys above).
        out: the structserve folder to write.
        sparse24_mode: default 2:4 runtime mode of the result.

    Returns:
        out.
    """
    src = Path(src)
    state = load_dense_state(src)
    stray = next((k for k in state if ".normalizer." in k), None)
    if stray is not None:
        raise UnexpectedTensorError(
            stray, expected="normalizer folded into A/B", found="a normalizer tensor"
        )
    layers = {}
    for key in sorted(k for k in state if k.endswith(A_KEY)):
        name = key[: -len(A_KEY)]
        parts = [state.pop(f"{name}{k}") for k in (A_KEY, B_KEY, X_KEY, MASK_KEY)]
        layers[name] = armor_layer(name, *parts)
    dtype = next((t.dtype for t in state.values() if t.is_floating_point()), torch.bfloat16)
    return write_state(src, out, state, layers, dtype=dtype, sparse24_mode=sparse24_mode)
