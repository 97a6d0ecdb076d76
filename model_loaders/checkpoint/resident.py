"""Weight bytes the engine keeps for a checkpoint, as the formats' runtime plans do (no torch).

Each format's `plan(mode)` (model_loaders/formats/) decides what stays resident: a dense copy, two
factors, or the stored tensors themselves. This module repeats that decision on the manifest and
the safetensors headers, so the gateway can show it in /v1/models without loading a tensor;
tests/unit/model_loaders check it against the plans' real tensors.
"""

from __future__ import annotations

import os
from pathlib import Path

from model_loaders.checkpoint.folder import tensor_index
from model_loaders.checkpoint.manifest import (
    SPARSE24_MODES,
    LayerEntry,
    Manifest,
    float_element_bytes,
    load_manifest,
    tensor_bytes,
)
from model_loaders.checkpoint.specs import Format

MODE_ENV = "STRUCTSERVE_SPARSE24_MODE"  # the engine's override of the manifest's mode


def runtime_mode(manifest: Manifest) -> str:
    """The compressed-format runtime mode the engine will use: $STRUCTSERVE_SPARSE24_MODE, else
    the manifest's (an unknown value counts as the manifest's: the engine refuses it anyway)."""
    mode = os.environ.get(MODE_ENV) or manifest.sparse24_mode
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
    """Weight bytes the engine keeps for `folder` (every tensor: embeddings and norms as stored,
    each manifest layer by `layer_resident_bytes`), or None without readable safetensors.

    Args:
        folder: an HF model folder (a structserve checkpoint or a plain model).
        mode: the runtime mode; None = `runtime_mode` of its manifest.
    """
    try:
        index = tensor_index(Path(folder))
    except (OSError, ValueError):
        return None
    if not index:
        return None
    total = sum(tensor_bytes(r) for r in index.values())
    manifest = load_manifest(Path(folder))
    if manifest is None:
        return total
    mode = mode or runtime_mode(manifest)
    elem = float_element_bytes(index)
    for name, entry in manifest.layers.items():
        stored = sum(tensor_bytes(index[f"{name}.{t}"]) for t in entry.tensors())
        total += layer_resident_bytes(entry, stored, elem, mode) - stored
    return total
