"""`structserve models list|pull`."""

from __future__ import annotations

import argparse
import json
import sys

from model_loaders.catalog import CATALOG, cached_models
from server.serve import ServeError, pull_catalog_model
from server.settings import load_settings


def main(argv: list[str]) -> int:
    """Entry point of `structserve models`."""
    parser = argparse.ArgumentParser(prog="structserve models")
    parser.add_argument(
        "--cache-dir", help="cache root (default: STRUCTSERVE_CACHE_DIR or ~/.cache)"
    )
    sub = parser.add_subparsers(dest="action", required=True)
    sub.add_parser("list", help="show cached models and the catalog")
    pull = sub.add_parser("pull", help="download, convert and verify a catalog model")
    pull.add_argument("name", choices=sorted(CATALOG))
    args = parser.parse_args(argv)
    settings = load_settings({"cache_dir": args.cache_dir} if args.cache_dir else {})
    if args.action == "pull":
        try:
            print(pull_catalog_model(args.name, settings))
        except ServeError as exc:
            print(f"structserve models pull: {exc}", file=sys.stderr)
            return 1
        return 0
    cached = cached_models(settings.cache_dir)
    names = {str(m["name"]) for m in cached}
    print(
        json.dumps(
            {
                "cache_dir": str(settings.cache_dir),
                "cached": cached,
                "catalog": [
                    {"name": e.name, "description": e.description, "cached": e.name in names}
                    for e in CATALOG.values()
                ],
            },
            indent=2,
        )
    )
    return 0
