"""What a model folder holds, from config.json and safetensors headers only (no torch).

`describe_folder` is what the gateway shows in /v1/models; `structserve inspect PATH` prints the
per-layer format, parameters, bytes and compression ratio (`main`).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from model_loaders.checkpoint.errors import CheckpointError
from model_loaders.checkpoint.folder import tensor_index
from model_loaders.checkpoint.manifest import float_element_bytes, load_manifest, tensor_bytes
from model_loaders.checkpoint.resident import resident_bytes
from model_loaders.checkpoint.specs import Format


@dataclass(frozen=True)
class LayerRow:
    """One module of the checkpoint."""

    layer: str
    format: str
    params: int  # stored elements
    bytes: int  # stored bytes
    dense_bytes: int  # bytes of the dense equivalent
    ratio: float  # bytes / dense_bytes


def describe_folder(folder: Path) -> dict[str, Any]:
    """Summarize a model folder for /v1/models and `structserve inspect` (no torch).

    Args:
        folder: an HF model folder.

    Returns:
        {"format": "dense" | a format name | "mixed", "formats": {format: layer count},
         "compression_ratio": stored weight bytes / bytes of the dense equivalent (all tensors,
         embeddings included), "linear_compression_ratio": the same over the compressed layers
         only, "weight_bytes": stored bytes, "dense_bytes": dense-equivalent bytes,
         "resident_weight_bytes": what the engine keeps at run time (checkpoint.resident: a
         format served dense keeps a dense copy), "resident_ratio": that / dense_bytes,
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
    elem = float_element_bytes(index)
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
    resident = resident_bytes(index, manifest)
    out["resident_weight_bytes"] = resident
    out["resident_ratio"] = round(resident / dense, 4) if resident and dense else None
    return out


def layer_rows(folder: Path) -> list[LayerRow]:
    """Per-module rows: manifest layers with their format, every other module as dense."""
    manifest = load_manifest(folder)
    index = tensor_index(folder)
    elem = float_element_bytes(index)
    layers = manifest.layers if manifest else {}
    groups: dict[str, list[str]] = {}
    for name in index:
        owner = next((layer for layer in layers if name.startswith(layer + ".")), None)
        groups.setdefault(owner or name.rsplit(".", 1)[0], []).append(name)
    rows = []
    for module, names in sorted(groups.items()):
        stored = sum(tensor_bytes(index[n]) for n in names)
        params = sum(math.prod(int(d) for d in index[n]["shape"]) for n in names)
        entry = layers.get(module)
        dense = entry.dense_params() * elem if entry else stored
        fmt = entry.format.value if entry else "dense"
        rows.append(
            LayerRow(module, fmt, params, stored, dense, round(stored / dense, 4) if dense else 1.0)
        )
    return rows


def _print_table(rows: list[LayerRow], summary: dict[str, Any]) -> None:
    width = max([len(r.layer) for r in rows] + [5])
    head = ("params", "bytes", "dense")
    print(f"{'layer':<{width}}  {'format':<10} " + " ".join(f"{h:>12}" for h in head) + "   ratio")
    for r in rows:
        nums = " ".join(f"{v:>12}" for v in (r.params, r.bytes, r.dense_bytes))
        print(f"{r.layer:<{width}}  {r.format:<10} {nums} {r.ratio:>7.4f}")
    print(
        f"total: format={summary['format']} formats={summary['formats']} "
        f"bytes={summary.get('weight_bytes')} dense={summary.get('dense_bytes')} "
        f"ratio={summary.get('compression_ratio')} "
        f"compressed-layers ratio={summary.get('linear_compression_ratio')}"
    )


def main(argv: list[str] | None = None) -> int:
    """CLI: `structserve inspect PATH [--json]`; returns 0, or 1 on an invalid checkpoint."""
    parser = argparse.ArgumentParser(prog="structserve inspect", description=__doc__)
    parser.add_argument("path", type=Path, help="an HF model folder (dense or structserve)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    try:
        rows = layer_rows(args.path)
        summary = describe_folder(args.path)
    except (CheckpointError, OSError, json.JSONDecodeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({"summary": summary, "layers": [asdict(r) for r in rows]}, indent=2))
    else:
        _print_table(rows, summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
