"""Build the docs/quality.md table and plot from measured results.

    python -m bench.quality_table --dense DIR --dense-ppl dense.json \\
        --row magnitude24=CKPT:ppl.json --row "armor healed=CKPT:ppl.json" ... \\
        --png docs/quality.png

Each row names a checkpoint folder (its structserve-compress.json gives the parameter ratio and
compression time; a structserve-heal.json adds the healing time) and a result JSON written by
`structserve eval ppl --out`. Prints the markdown table.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from bench.quality import QualityRow, checkpoint_bytes, plot_rows, render_table


def linear_bytes(folder: Path) -> int:
    """Stored bytes of the decoder linears (`model.layers.*_proj.*`, whatever their format)."""
    from model_loaders.checkpoint.folder import tensor_index
    from model_loaders.checkpoint.manifest import tensor_bytes

    return sum(
        tensor_bytes(rec)
        for key, rec in tensor_index(folder).items()
        if key.startswith("model.layers.") and "_proj." in key
    )


def build_row(
    name: str, folder: Path, ppl_json: Path, dense_bytes: int, dense_linear_bytes: int
) -> QualityRow:
    """One table row from a checkpoint folder and its perplexity result.

    The linear-bytes ratio counts every decoder linear, including the ones a method kept dense
    (a manifest lists only the compressed layers).
    """
    ppl = json.loads(ppl_json.read_text())["ppl"]
    report_path = folder / "structserve-compress.json"
    heal_path = folder / "structserve-heal.json"
    seconds = None
    param_ratio = 1.0
    if report_path.is_file():
        report = json.loads(report_path.read_text())
        seconds, param_ratio = report["compress_seconds"], report["linear_param_ratio"]
    elif heal_path.is_file():
        heal = json.loads(heal_path.read_text())
        src = json.loads((Path(heal["compressed"]) / "structserve-compress.json").read_text())
        seconds = src["compress_seconds"] + heal["heal_seconds"]
        param_ratio = src["linear_param_ratio"]
    return QualityRow(
        name=name,
        ppl=ppl,
        param_ratio=param_ratio,
        byte_ratio=linear_bytes(folder) / dense_linear_bytes,
        model_byte_ratio=checkpoint_bytes(folder) / dense_bytes,
        compress_seconds=seconds,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Print the table (and draw the plot) of the given rows."""
    p = argparse.ArgumentParser(prog="python -m bench.quality_table", description=__doc__)
    p.add_argument("--dense", required=True, type=Path, help="dense model folder")
    p.add_argument("--dense-ppl", required=True, type=Path, help="its eval ppl JSON")
    p.add_argument("--row", action="append", default=[], help="NAME=CHECKPOINT_DIR:PPL_JSON")
    p.add_argument("--png", type=Path, default=None, help="write the plot here")
    p.add_argument("--title", default="SmolLM2-135M, WikiText-2 test", help="plot title")
    args = p.parse_args(list(sys.argv[1:] if argv is None else argv))
    dense_bytes = checkpoint_bytes(args.dense)
    dense_ppl = json.loads(args.dense_ppl.read_text())["ppl"]
    rows = [QualityRow("dense", dense_ppl, 1.0, 1.0, 1.0, None)]
    for spec in args.row:
        name, rest = spec.split("=", 1)
        folder, ppl_json = rest.rsplit(":", 1)
        rows.append(
            build_row(name, Path(folder), Path(ppl_json), dense_bytes, linear_bytes(args.dense))
        )
    print(render_table(rows, dense_ppl), end="")
    if args.png:
        plot_rows(rows[1:], dense_ppl, args.png, title=args.title)
    return 0


if __name__ == "__main__":
    sys.exit(main())
