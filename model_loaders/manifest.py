"""The structserve checkpoint manifest, read from a model folder's config.json (no torch).

The spec is docs/formats.md. `describe_folder` is what the gateway shows in /v1/models; it reads
only JSON and safetensors headers, so the gateway never imports torch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from model_loaders.errors import ManifestError
from model_loaders.folder import read_header, safetensors_files, tensor_index

__all__ = ["read_header", "safetensors_files", "tensor_index"]  # re-exported (folder.py)

QUANT_METHOD = "structserve"
SPEC_VERSION = 1
SPARSE24_MODES = ("dense", "compressed")


class Format(StrEnum):
    """Per-layer storage formats (docs/formats.md)."""

    DENSE = "dense"
    LOWRANK = "lowrank"
    SPARSE24 = "sparse24"
    SPENSE = "spense"
    ARMOR = "armor"
    DICTSPARSE = "dictsparse"


# Format -> its own integer keys in a manifest entry.
FORMAT_KEYS: dict[Format, tuple[str, ...]] = {
    Format.DENSE: (),
    Format.LOWRANK: ("rank",),
    Format.SPARSE24: (),
    Format.SPENSE: ("dense_rows",),
    Format.ARMOR: ("block_size",),
    Format.DICTSPARSE: ("atoms", "nnz_per_column"),
}

FLOAT = "float"  # dtype placeholder: the checkpoint's floating dtype (F16, BF16 or F32)
FLOAT_DTYPES = ("F16", "BF16", "F32")
INDEX = "index"  # dtype placeholder: an index tensor, I16 or I32 (narrow to wide)
INDEX_DTYPES = ("I16", "I32")
MAX_I16_ATOMS = 32767  # I16 indices only for atoms <= this (docs/formats.md)
DTYPE_BYTES = {"F16": 2, "BF16": 2, "F32": 4, "F64": 8, "U8": 1, "I8": 1, "I16": 2, "I32": 4}
DTYPE_BYTES |= {"I64": 8, "BOOL": 1}


@dataclass(frozen=True)
class TensorSpec:
    """Expected shape and dtype (a safetensors dtype name, FLOAT or INDEX) of one stored tensor."""

    shape: tuple[int, ...]
    dtype: str

    def accepted(self) -> tuple[str, ...]:
        """The safetensors dtype names this spec accepts (a placeholder expands to its set)."""
        if self.dtype == FLOAT:
            return FLOAT_DTYPES
        if self.dtype == INDEX:
            return INDEX_DTYPES
        return (self.dtype,)


def index_dtype(atoms: int) -> str:
    """The dtype writers store a dictsparse index over `atoms` rows in: I16 when every index
    fits (atoms <= 32767), else I32. The one place this choice is made (docs/formats.md)."""
    return "I16" if atoms <= MAX_I16_ATOMS else "I32"


def _index_spec(shape: tuple[int, ...], atoms: int) -> TensorSpec:
    """Readers accept I16 or I32 when I16 can address every atom, else only I32."""
    return TensorSpec(shape, INDEX if index_dtype(atoms) == "I16" else "I32")


@dataclass(frozen=True)
class LayerEntry:
    """One manifest entry: a linear layer, its format and the format's parameters."""

    name: str
    format: Format
    out_features: int
    in_features: int
    params: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The entry as written in config.json (without the layer name)."""
        out: dict[str, Any] = {"format": self.format.value}
        out |= {"out_features": self.out_features, "in_features": self.in_features}
        return out | dict(self.params)

    def tensors(self) -> dict[str, TensorSpec]:
        """Tensor suffix -> expected spec, per docs/formats.md (bias not included)."""
        return expected_tensors(self)

    def dense_params(self) -> int:
        """Parameters of the dense matrix this layer replaces."""
        return self.out_features * self.in_features


@dataclass(frozen=True)
class Manifest:
    """A parsed `quantization_config` of quant_method structserve."""

    version: int
    layers: dict[str, LayerEntry]
    sparse24_mode: str = "dense"

    def to_json(self) -> dict[str, Any]:
        """The `quantization_config` object to write into config.json."""
        return {
            "quant_method": QUANT_METHOD,
            "version": self.version,
            "sparse24_mode": self.sparse24_mode,
            "layers": {name: e.to_json() for name, e in sorted(self.layers.items())},
        }


def _int_field(where: str, raw: dict[str, Any], key: str) -> int:
    value = raw.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ManifestError(f"{where}.{key}", expected="a non-negative integer", found=value)
    return value


def _check_entry(entry: LayerEntry) -> None:
    o, i, p = entry.out_features, entry.in_features, entry.params
    where = entry.name
    if entry.format in (Format.SPARSE24, Format.SPENSE, Format.ARMOR) and i % 8:
        raise ManifestError(f"{where}.in_features", expected="a multiple of 8", found=i)
    if entry.format is Format.LOWRANK and p["rank"] < 1:
        raise ManifestError(f"{where}.rank", expected=">= 1", found=p["rank"])
    if entry.format is Format.SPENSE and p["dense_rows"] > o:
        raise ManifestError(f"{where}.dense_rows", expected=f"<= out_features {o}", found=p)
    if entry.format is Format.ARMOR:
        bs = p["block_size"]
        if bs < 1 or o % bs or i % bs:
            raise ManifestError(
                f"{where}.block_size", expected=f"a divisor of {o} and {i}", found=bs
            )
    if entry.format is Format.DICTSPARSE:
        k, s = p["atoms"], p["nnz_per_column"]
        if not 1 <= s <= k:
            raise ManifestError(f"{where}.nnz_per_column", expected=f"in [1, atoms={k}]", found=s)


def parse_entry(name: str, raw: object) -> LayerEntry:
    """Validate one manifest entry.

    Args:
        name: the HF module name (the key in `layers`).
        raw: the JSON value.

    Returns:
        The typed entry; raises ManifestError naming the bad key.
    """
    if not isinstance(raw, dict):
        raise ManifestError(name, expected="an object", found=type(raw).__name__)
    try:
        fmt = Format(str(raw.get("format")))
    except ValueError:
        known = [f.value for f in Format]
        found = raw.get("format")
        raise ManifestError(f"{name}.format", expected=f"one of {known}", found=found) from None
    keys = FORMAT_KEYS[fmt]
    allowed = {"format", "out_features", "in_features", *keys}
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise ManifestError(name, expected=f"keys {sorted(allowed)}", found=f"unknown {unknown}")
    out = _int_field(name, raw, "out_features")
    inp = _int_field(name, raw, "in_features")
    entry = LayerEntry(name, fmt, out, inp, {k: _int_field(name, raw, k) for k in keys})
    _check_entry(entry)
    return entry


def parse_manifest(quant: object) -> Manifest:
    """Parse `config.json`'s `quantization_config` (quant_method structserve).

    Args:
        quant: the JSON object.

    Returns:
        The manifest; raises ManifestError on any deviation from docs/formats.md.
    """
    if not isinstance(quant, dict) or quant.get("quant_method") != QUANT_METHOD:
        raise ManifestError("quantization_config", expected=QUANT_METHOD, found=quant)
    known = {"quant_method", "version", "layers", "sparse24_mode"}
    unknown = sorted(set(quant) - known)
    if unknown:
        raise ManifestError("quantization_config", expected=sorted(known), found=unknown)
    if quant.get("version") != SPEC_VERSION:
        raise ManifestError("quantization_config.version", expected=1, found=quant.get("version"))
    mode = quant.get("sparse24_mode", "dense")
    if mode not in SPARSE24_MODES:
        raise ManifestError(
            "quantization_config.sparse24_mode", expected=SPARSE24_MODES, found=mode
        )
    layers = quant.get("layers")
    if not isinstance(layers, dict):
        raise ManifestError("quantization_config.layers", expected="an object", found=layers)
    entries = {name: parse_entry(name, raw) for name, raw in layers.items()}
    return Manifest(SPEC_VERSION, entries, mode)


def expected_tensors(entry: LayerEntry) -> dict[str, TensorSpec]:
    """Tensor suffix -> spec for one layer entry (docs/formats.md table)."""
    o, i, p = entry.out_features, entry.in_features, entry.params
    fmt = entry.format
    if fmt is Format.DENSE:
        return {"weight": TensorSpec((o, i), FLOAT)}
    if fmt is Format.LOWRANK:
        r = p["rank"]
        return {"U": TensorSpec((o, r), FLOAT), "V": TensorSpec((r, i), FLOAT)}
    if fmt is Format.SPARSE24:
        return _packed24(o, i)
    if fmt is Format.SPENSE:
        n = p["dense_rows"]
        return {
            "dense_rows": TensorSpec((n,), "I32"),
            "dense_weight": TensorSpec((n, i), FLOAT),
            **_packed24(o - n, i),
        }
    if fmt is Format.ARMOR:
        bs = p["block_size"]
        return {
            "A": TensorSpec((o // bs, bs, bs), FLOAT),
            "B": TensorSpec((i // bs, bs, bs), FLOAT),
            **_packed24(o, i),
        }
    k, s = p["atoms"], p["nnz_per_column"]
    return {
        "D": TensorSpec((o, k), FLOAT),
        "C_values": TensorSpec((s, i), FLOAT),
        "C_index": _index_spec((s, i), k),
    }


def _packed24(rows: int, cols: int) -> dict[str, TensorSpec]:
    return {
        "values": TensorSpec((rows, cols // 2), FLOAT),
        "meta": TensorSpec((rows, cols // 8), "U8"),
    }


def read_config(folder: Path) -> dict[str, Any]:
    """config.json of a model folder ({} when absent)."""
    path = Path(folder) / "config.json"
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except (ValueError, RecursionError) as exc:
        raise ManifestError(str(path), expected="a JSON object", found=exc) from None
    if not isinstance(data, dict):
        raise ManifestError(str(path), expected="a JSON object", found=type(data).__name__)
    return data


def load_manifest(folder: Path) -> Manifest | None:
    """The folder's manifest, or None for a checkpoint without a structserve quantization_config."""
    quant = read_config(folder).get("quantization_config")
    if not isinstance(quant, dict) or quant.get("quant_method") != QUANT_METHOD:
        return None
    return parse_manifest(quant)


def tensor_bytes(rec: dict[str, Any]) -> int:
    """Bytes of one tensor from its header record."""
    begin, end = rec["data_offsets"]
    return int(end) - int(begin)


def describe_folder(folder: Path) -> dict[str, Any]:
    """Summarize a model folder for /v1/models and `structserve inspect` (no torch).

    Args:
        folder: an HF model folder.

    Returns:
        {"format": "dense" | a format name | "mixed", "formats": {format: layer count},
         "compression_ratio": stored weight bytes / bytes of the dense equivalent (all tensors,
         embeddings included), "linear_compression_ratio": the same over the compressed layers
         only, "weight_bytes": stored bytes, "dense_bytes": dense-equivalent bytes,
         "spec_version": int | None}. Ratios are None when no safetensors file is readable.
    """
    folder = Path(folder)
    manifest = load_manifest(folder)
    layers = manifest.layers if manifest else {}
    counts: dict[str, int] = {}
    for entry in layers.values():
        counts[entry.format.value] = counts.get(entry.format.value, 0) + 1
    compressed = {f for f in counts if f != Format.DENSE.value}
    fmt = (
        "dense" if not compressed else (next(iter(compressed)) if len(compressed) == 1 else "mixed")
    )
    out: dict[str, Any] = {"format": fmt, "formats": counts}
    out["spec_version"] = manifest.version if manifest else None
    try:
        index = tensor_index(folder)
    except (OSError, ValueError):
        index = {}
    if not index:
        return out | {"compression_ratio": None if manifest else 1.0, "weight_bytes": None}
    stored = sum(tensor_bytes(r) for r in index.values())
    elem = _float_bytes(index)
    layer_stored, layer_dense = 0, 0
    for name, entry in layers.items():
        layer_stored += sum(
            tensor_bytes(index[f"{name}.{t}"]) for t in entry.tensors() if f"{name}.{t}" in index
        )
        layer_dense += entry.dense_params() * elem
    dense = stored - layer_stored + layer_dense
    out |= {"weight_bytes": stored, "dense_bytes": dense}
    out["compression_ratio"] = round(stored / dense, 4) if dense else 1.0
    out["linear_compression_ratio"] = round(layer_stored / layer_dense, 4) if layer_dense else 1.0
    return out


def _float_bytes(index: dict[str, dict[str, Any]]) -> int:
    for rec in index.values():
        if rec["dtype"] in FLOAT_DTYPES:
            return DTYPE_BYTES[rec["dtype"]]
    return 2
