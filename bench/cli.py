"""`structserve bench`: the benchmarks that ship with structserve, one subcommand each.

    structserve bench serve --base-url http://127.0.0.1:8000 --concurrency 1,16
    structserve bench jsonschemabench --base-url http://127.0.0.1:8000 --limit 5
    structserve bench soak --base-url http://127.0.0.1:8000 --duration 600
    structserve bench formats --model DIR --work /tmp/ssbench --out formats.json
    structserve bench kernel-speed --threads 1 2
    structserve bench random-model --like DIR --out DIR
    structserve bench schema-suite --backends structserve,llguidance
    structserve bench jsb-offline --limit 40 --out results/jsb_offline.json
    structserve bench verdict-latency --seconds 5
    structserve bench bfcl --limit 5 --out results/bfcl
    structserve bench choice-trie --sizes 10000 100000 1000000
    structserve bench choice-registration --size 1000000

`structserve bench COMMAND --help` lists each one's flags; docs/benchmarks.md the figures of
record and the commands that produced them.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from collections.abc import Callable, Sequence
from typing import NamedTuple


class Benchmark(NamedTuple):
    """A subcommand: the module whose `main(argv: list[str]) -> int` runs it, and its help."""

    module: str
    help: str


DELEGATED: dict[str, Benchmark] = {
    "serve": Benchmark("bench.serve_cli", "Load-test an OpenAI-compatible server."),
    "jsonschemabench": Benchmark("bench.jsonschemabench", "Structured output on JSONSchemaBench."),
    "soak": Benchmark("bench.soak_cli", "Long mixed run; checks errors, memory and fd growth."),
    "formats": Benchmark("bench.formats", "Each compressed format served by vLLM: tok/s, memory."),
    "kernel-speed": Benchmark("bench.kernel_speed", "Native CPU kernels vs torch vs bandwidth."),
    "random-model": Benchmark("bench.random_llama", "Write a random-init Llama (speed, memory)."),
    "schema-suite": Benchmark("bench.schema_suite", "JSON-Schema-Test-Suite, token level."),
    "jsb-offline": Benchmark("bench.jsb_offline", "Schema policy on JSONSchemaBench, offline."),
    "bfcl": Benchmark("bench.bfcl", "Tool calling on BFCL: structserve vs vLLM direct."),
    "choice-trie": Benchmark("bench.choice_trie", "Choice-set trie: build, mask step, exactness."),
    "choice-registration": Benchmark(
        "bench.choice_registration", "Registering a large choice set, joined vs item by item."
    ),
    "choice-grammars": Benchmark(
        "bench.choice_grammars", "llguidance and xgrammar given a choice set as an alternation."
    ),
    "choice-sets": Benchmark("bench.choice_sets_serving", "Choice sets served: TPOT, exactness."),
    "budget-closing": Benchmark(
        "bench.budget_closing", "close_on_budget served: TPOT and validity, with vs without."
    ),
    "verdict-latency": Benchmark(
        "bench.verdict_latency", "Plain requests' latency while a 64 KB grammar verdict runs."
    ),
}


def _delegate(name: str) -> Callable[[list[str]], int] | None:
    """The subcommand's entry point, or None when its module is not in this build."""
    module_name = DELEGATED[name].module
    if importlib.util.find_spec(module_name) is None:
        return None
    entry: Callable[[list[str]], int] = importlib.import_module(module_name).main
    return entry


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="structserve bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, benchmark in DELEGATED.items():
        sub.add_parser(name, help=benchmark.help, add_help=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `structserve bench`: dispatch to the named benchmark."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in DELEGATED:
        entry = _delegate(args[0])
        if entry is None:
            print(f"structserve bench {args[0]}: not available in this build", file=sys.stderr)
            return 2
        return entry(args[1:])
    if not args:
        _parser().print_help()
        return 2
    _parser().parse_args(args[:1])  # prints the help, or the usage error of an unknown command
    return 0


if __name__ == "__main__":
    sys.exit(main())
