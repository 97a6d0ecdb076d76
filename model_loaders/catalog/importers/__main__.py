"""CLI: `python -m model_loaders.catalog.importers KIND SRC OUT [--sparse24-mode MODE]`.

MODE is dense or compressed."""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from model_loaders.catalog.importers import IMPORTERS
from model_loaders.checkpoint.errors import CheckpointError
from model_loaders.checkpoint.manifest import SPARSE24_MODES


def main(argv: list[str] | None = None) -> int:
    """Import SRC (a folder of KIND) into the structserve checkpoint OUT; 0 on success."""
    parser = argparse.ArgumentParser(prog="python -m model_loaders.catalog.importers")
    parser.add_argument("kind", choices=sorted(IMPORTERS))
    parser.add_argument("src", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--sparse24-mode", choices=SPARSE24_MODES, default="dense")
    args = parser.parse_args(argv)
    module, func = IMPORTERS[args.kind].split(":")
    run = getattr(importlib.import_module(module), func)
    try:
        print(run(args.src, args.out, sparse24_mode=args.sparse24_mode))
    except CheckpointError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
