"""The `structserve` command: serve, models, and the subcommands other packages provide.

Subcommands other than `serve` and `models` live in their own packages and are imported only
when called, so `structserve serve` never loads torch.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

# name -> (module, help). Each module exposes `main(argv: list[str]) -> int`.
DELEGATED: dict[str, tuple[str, str]] = {
    "serve": ("server.serve", "Start the gateway and its engine."),
    "models": ("server.models_cli", "List and pull cached models."),
    "inspect": (
        "model_loaders.checkpoint.describe",
        "Show a checkpoint's per-layer format and size.",
    ),
    "compress": ("compress.cli", "Compress a dense model into a structserve checkpoint."),
    "bench": ("bench.cli", "Benchmarks: serve, jsonschemabench, soak, formats, kernel-speed, ..."),
    "eval": ("bench.eval_cli", "Quality evaluation (perplexity)."),
}


def _load(name: str) -> Callable[[list[str]], int]:
    module_name, _ = DELEGATED[name]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            raise SystemExit(f"structserve {name}: not available in this build") from exc
        raise
    entry: Callable[[list[str]], int] = module.main
    return entry


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `structserve` console script."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help") or args[0] not in DELEGATED:
        parser = argparse.ArgumentParser(prog="structserve", description=__doc__)
        sub = parser.add_subparsers(dest="command", metavar="COMMAND")
        for name, (_, help_text) in DELEGATED.items():
            sub.add_parser(name, help=help_text, add_help=False)
        if not args:
            parser.print_help()
            return 2
        parser.parse_args(args[:1])  # prints help, or the usage error for an unknown command
        return 0
    return _load(args[0])(args[1:])


if __name__ == "__main__":
    sys.exit(main())
