"""`structserve bench`: the benchmarks that ship with structserve, one subcommand each.

    structserve bench serve --base-url http://127.0.0.1:8000 --concurrency 1,16
    structserve bench jsonschemabench --base-url http://127.0.0.1:8000 --limit 5
    structserve bench soak --base-url http://127.0.0.1:8000 --duration 600
    structserve bench formats --model DIR --work /tmp/ssbench --out formats.json
    structserve bench kernel-speed --threads 1 2
    structserve bench random-model --like DIR --out DIR

`structserve bench COMMAND --help` lists each one's flags; docs/benchmarks.md the figures of
record and the commands that produced them.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

# subcommand -> (module, help); each module exposes `main(argv: list[str]) -> int`.
DELEGATED: dict[str, tuple[str, str]] = {
    "serve": ("bench.serve_cli", "Load-test an OpenAI-compatible server."),
    "jsonschemabench": ("bench.jsonschemabench", "Structured-output benchmark on JSONSchemaBench."),
    "soak": ("bench.soak_cli", "Long mixed-workload run; checks errors, memory and fd growth."),
    "formats": ("bench.formats", "Each compressed format served by vLLM: decode tok/s, memory."),
    "kernel-speed": ("bench.kernel_speed", "Native CPU kernels vs torch vs memory bandwidth."),
    "random-model": ("bench.random_llama", "Write a random-init Llama (speed and memory tests)."),
}


def _delegate(name: str) -> Callable[[list[str]], int] | None:
    module_name = DELEGATED[name][0]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            return None
        raise
    entry: Callable[[list[str]], int] = module.main
    return entry


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `structserve bench`: dispatch to the named benchmark."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] not in DELEGATED:
        parser = argparse.ArgumentParser(
            prog="structserve bench",
            description=__doc__,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        sub = parser.add_subparsers(dest="command", metavar="COMMAND")
        for name, (_, help_text) in DELEGATED.items():
            sub.add_parser(name, help=help_text, add_help=False)
        if not args:
            parser.print_help()
            return 2
        parser.parse_args(args[:1])
        return 0
    entry = _delegate(args[0])
    if entry is None:
        print(f"structserve bench {args[0]}: not available in this build", file=sys.stderr)
        return 2
    return entry(args[1:])


if __name__ == "__main__":
    sys.exit(main())
