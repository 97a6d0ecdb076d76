"""`structserve inspect PATH`: per-layer format, parameters, bytes and compression ratio (no torch).

Reads only config.json and safetensors headers.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from model_loaders.errors import CheckpointError
from model_loaders.manifest import (
    DTYPE_BYTES,
    FLOAT_DTYPES,
    describe_folder,
    load_manifest,
    tensor_bytes,
    tensor_index,
)


@dataclass(frozen=True)
class LayerRow:
    """One module of the checkpoint."""

    layer: str
    format: str
    params: int  # stored elements
    bytes: int  # stored bytes
    dense_bytes: int  # bytes of the dense equivalent
    ratio: float  # bytes / dense_bytes


def _elems(rec: dict[str, Any]) -> int:
    n = 1
    for d in rec["shape"]:
        n *= int(d)
    return n


def layer_rows(folder: Path) -> list[LayerRow]:
    """Per-module rows: manifest layers with their format, every other module as dense."""
    manifest = load_manifest(folder)
    index = tensor_index(folder)
    elem = next((DTYPE_BYTES[r["dtype"]] for r in index.values() if r["dtype"] in FLOAT_DTYPES), 2)
    layers = manifest.layers if manifest else {}
    groups: dict[str, list[str]] = {}
    for name in index:
        owner = next((layer for layer in layers if name.startswith(layer + ".")), None)
        groups.setdefault(owner or name.rsplit(".", 1)[0], []).append(name)
    rows = []
    for module, names in sorted(groups.items()):
        stored = sum(tensor_bytes(index[n]) for n in names)
        params = sum(_elems(index[n]) for n in names)
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
