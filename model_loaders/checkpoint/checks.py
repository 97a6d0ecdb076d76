"""Checkpoint checks before any weight is loaded: manifest, names, shapes, dtypes, file sizes.

`check_folder` reads only JSON and safetensors headers (no torch) unless `deep=True`, which
also loads each compressed layer's tensors and validates their values (2:4 codes, indices).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from model_loaders.checkpoint.errors import (
    MissingTensorError,
    RankMismatchError,
    TensorDtypeError,
    TensorShapeError,
    UnexpectedTensorError,
)
from model_loaders.checkpoint.folder import tensor_index
from model_loaders.checkpoint.manifest import LayerEntry, Manifest, load_manifest
from model_loaders.checkpoint.specs import FORMATS, TensorSpec


def _check_one(entry: LayerEntry, suffix: str, want: TensorSpec, rec: dict[str, Any]) -> None:
    name = f"{entry.name}.{suffix}"
    dtype, accepted = rec["dtype"], want.accepted()
    if dtype not in accepted:
        expected = accepted[0] if len(accepted) == 1 else f"one of {accepted}"
        raise TensorDtypeError(name, expected=expected, found=dtype)
    shape = tuple(rec["shape"])
    if shape == want.shape:
        return
    rank_dim = FORMATS[entry.format].rank_dims.get(suffix)
    if rank_dim is not None and len(shape) == len(want.shape):
        others_ok = all(
            a == b for d, (a, b) in enumerate(zip(shape, want.shape, strict=True)) if d != rank_dim
        )
        if others_ok:
            raise RankMismatchError(name, expected=list(want.shape), found=list(shape))
    raise TensorShapeError(name, expected=list(want.shape), found=list(shape))


def check_layer(entry: LayerEntry, index: dict[str, dict[str, Any]]) -> None:
    """Check one manifest layer against the tensor index (name -> safetensors header record).

    Raises MissingTensorError, UnexpectedTensorError, TensorShapeError, TensorDtypeError or
    RankMismatchError naming the tensor.
    """
    expected = entry.tensors()
    for suffix, want in expected.items():
        rec = index.get(f"{entry.name}.{suffix}")
        if rec is None:
            raise MissingTensorError(
                f"{entry.name}.{suffix}", expected=list(want.shape), found="nothing"
            )
        _check_one(entry, suffix, want, rec)
    prefix = f"{entry.name}."
    for name in index:
        if name.startswith(prefix):
            suffix = name[len(prefix) :]
            if suffix not in expected and suffix != "bias":
                allowed = sorted([*expected, "bias"])
                raise UnexpectedTensorError(name, expected=f"only {allowed}", found=suffix)


def check_folder(folder: Path | str, *, deep: bool = False) -> Manifest | None:
    """Check a checkpoint folder against its manifest.

    Args:
        folder: an HF model folder.
        deep: also load every compressed layer's tensors and validate their values (needs torch).

    Returns:
        The manifest, or None for a checkpoint without a structserve quantization_config.
        Raises a CheckpointError subclass on the first problem found.
    """
    folder = Path(folder)
    manifest = load_manifest(folder)
    if manifest is None:
        return None
    index = tensor_index(folder)
    for entry in manifest.layers.values():
        check_layer(entry, index)
    if deep:
        _check_values(folder, manifest, index)
    return manifest


def _check_values(folder: Path, manifest: Manifest, index: dict[str, dict[str, Any]]) -> None:
    from safetensors import safe_open

    from model_loaders.formats import bundle  # engine side (torch)

    handles: dict[str, Any] = {}
    for entry in manifest.layers.values():
        tensors = {}
        for suffix in entry.tensors():
            rec = index[f"{entry.name}.{suffix}"]
            if rec["file"] not in handles:
                handles[rec["file"]] = safe_open(str(folder / rec["file"]), "pt")
            tensors[suffix] = handles[rec["file"]].get_tensor(f"{entry.name}.{suffix}")
        bundle(entry, tensors).validate(entry.name)
