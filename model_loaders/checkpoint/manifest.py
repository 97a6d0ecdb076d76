"""The structserve checkpoint manifest, read from a model folder's config.json (no torch).

The spec is docs/formats.md; what each format allows comes from its row in
`model_loaders.checkpoint.specs.FORMATS`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from model_loaders.checkpoint.errors import ManifestError
from model_loaders.checkpoint.specs import DTYPE_BYTES, FLOAT_DTYPES, FORMATS, Format, TensorSpec

QUANT_METHOD = "structserve"
SPEC_VERSION = 1
SPARSE24_MODES = ("dense", "compressed")
SPARSE24_MODE_ENV = "STRUCTSERVE_SPARSE24_MODE"  # the engine's override of a manifest's mode


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
    spec = FORMATS[fmt]
    keys = spec.keys
    allowed = {"format", "out_features", "in_features", *keys}
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise ManifestError(name, expected=f"keys {sorted(allowed)}", found=f"unknown {unknown}")
    out = _int_field(name, raw, "out_features")
    inp = _int_field(name, raw, "in_features")
    entry = LayerEntry(name, fmt, out, inp, {k: _int_field(name, raw, k) for k in keys})
    spec.check(name, out, inp, entry.params)
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
    return FORMATS[entry.format].tensors(entry.out_features, entry.in_features, entry.params)


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


def float_element_bytes(index: dict[str, dict[str, Any]]) -> int:
    """Bytes of one element of the first floating tensor in a tensor index (2 when none)."""
    for rec in index.values():
        if rec["dtype"] in FLOAT_DTYPES:
            return DTYPE_BYTES[rec["dtype"]]
    return 2


def requested_sparse24_mode(manifest: Manifest) -> str:
    """The 2:4 runtime mode asked for: $STRUCTSERVE_SPARSE24_MODE, else the manifest's (not
    validated: the engine's config refuses a value outside SPARSE24_MODES)."""
    return os.environ.get(SPARSE24_MODE_ENV) or manifest.sparse24_mode
