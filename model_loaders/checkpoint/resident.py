"""Weight bytes the engine keeps for a checkpoint, as the formats' runtime plans do (no torch).

Each format's `plan(mode)` (model_loaders/formats/) decides what stays resident: a dense copy, two
factors, or the stored tensors themselves. This module repeats that decision on the manifest and
the safetensors headers, so the gateway can show it in /v1/models without loading a tensor;
tests/unit/model_loaders check it against the plans' real tensors.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from model_loaders.checkpoint.folder import tensor_index
from model_loaders.checkpoint.manifest import (
    SPARSE24_MODES,
    LayerEntry,
    Manifest,
    float_element_bytes,
    load_manifest,
    requested_sparse24_mode,
    tensor_bytes,
)
from model_loaders.checkpoint.specs import Format


def runtime_mode(manifest: Manifest) -> str:
    """The compressed-format runtime mode the engine will use (manifest.requested_sparse24_mode;
    an unknown value counts as the manifest's: the engine refuses it anyway)."""
    mode = requested_sparse24_mode(manifest)
    return mode if mode in SPARSE24_MODES else manifest.sparse24_mode


def layer_resident_bytes(entry: LayerEntry, stored: int, elem: int, mode: str) -> int:
    """Bytes one layer keeps at run time.

    Args:
        entry: the layer's manifest entry.
        stored: bytes of its stored tensors.
        elem: bytes of one weight element (the checkpoint's float dtype).
        mode: "dense" or "compressed" (formats with packed parts).
    """
    o, i, p = entry.out_features, entry.in_features, entry.params
    dense = o * i * elem
    if entry.format is Format.DENSE:
        return dense
    if entry.format is Format.LOWRANK:  # formats/base.factored_plan: U, V or dense
        return elem * p["rank"] * (o + i) if p["rank"] * (o + i) < o * i else dense
    if entry.format is Format.DICTSPARSE and mode == "dense":  # D and C made dense, or dense
        return elem * p["atoms"] * (o + i) if p["atoms"] * (o + i) < o * i else dense
    return dense if mode == "dense" else stored  # packed parts served as stored


def resident_weight_bytes(folder: Path | str, mode: str | None = None) -> int | None:
    """Weight bytes the engine keeps for `folder`, or None without readable safetensors
    (`resident_bytes` of its tensor index and manifest).

    Args:
        folder: an HF model folder (a structserve checkpoint or a plain model).
        mode: the runtime mode; None = `runtime_mode` of its manifest.
    """
    try:
        index = tensor_index(Path(folder))
    except (OSError, ValueError):
        return None
    return resident_bytes(index, load_manifest(Path(folder)), mode) if index else None


def resident_bytes(
    index: dict[str, dict[str, Any]], manifest: Manifest | None, mode: str | None = None
) -> int:
    """Every tensor of `index` (safetensors header records) as stored, each manifest layer by
    `layer_resident_bytes` in `mode` (None = `runtime_mode` of the manifest)."""
    total = sum(tensor_bytes(r) for r in index.values())
    if manifest is None:
        return total
    mode = mode or runtime_mode(manifest)
    elem = float_element_bytes(index)
    for name, entry in manifest.layers.items():
        stored = sum(tensor_bytes(index[f"{name}.{t}"]) for t in entry.tensors())
        total += layer_resident_bytes(entry, stored, elem, mode) - stored
    return total
