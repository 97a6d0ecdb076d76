"""Offline declared coverage and compile time per backend on JSONSchemaBench (no LLM).

    python -m bench.grammar_coverage --limit 50 --backends structserve,llguidance,xgrammar,outlines

Declared coverage = schemas the backend compiles; for xgrammar also the share of compiled
schemas using keywords it is known to ignore silently (measured-facts list), i.e. compiled
but weakened.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.grammar_backends import DEFAULT_MODEL, make
from bench.jsb_data import SUBSETS, data_root, load_cases
from bench.jsonschemabench import DEFAULT_CACHE, DEFAULT_DATA

# keywords xgrammar 0.2.x accepts but does not enforce (docs: shared/notes/measured-facts.md)
XGRAMMAR_IGNORES = frozenset(
    {"not", "if", "then", "else", "allOf", "oneOf", "contains", "propertyNames",
     "dependentRequired", "dependentSchemas", "dependencies", "uniqueItems",
     "unevaluatedProperties", "unevaluatedItems", "$dynamicRef"}
)  # fmt: skip


def _uses(schema: Any, keys: frozenset[str]) -> bool:
    if isinstance(schema, dict):
        return any(k in keys for k in schema) or any(_uses(v, keys) for v in schema.values())
    if isinstance(schema, list):
        return any(_uses(v, keys) for v in schema)
    return False


def main(argv: Sequence[str] | None = None) -> int:
    """Print and write per-subset declared coverage and median compile ms per backend."""
    p = argparse.ArgumentParser(prog="python -m bench.grammar_coverage", description=__doc__)
    p.add_argument("--data", type=Path, default=DEFAULT_DATA)
    p.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    p.add_argument("--subsets", default=",".join(SUBSETS))
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--backends", default="structserve,llguidance,xgrammar,outlines")
    p.add_argument("--model-dir", type=Path, default=DEFAULT_MODEL)
    p.add_argument("--out", type=Path, default=Path("results/grammar_coverage.json"))
    args = p.parse_args(list(sys.argv[1:] if argv is None else argv))
    cases = load_cases(
        data_root(args.data, args.cache), args.subsets.split(","), args.limit or None, args.seed
    )
    table: dict[str, dict[str, Any]] = {}
    for name in args.backends.split(","):
        backend = make(name, args.model_dir)
        for subset in dict.fromkeys(c.subset for c in cases):
            rows = [c for c in cases if c.subset == subset]
            results = [(c, backend.compile(c.schema)) for c in rows]
            ok = [(c, r) for c, r in results if r.handle is not None]
            cell = {
                "n": len(rows),
                "declared": len(ok) / len(rows),
                "compile_ms_p50": statistics.median(r.ms for _, r in results),
                "compile_ms_max": max(r.ms for _, r in results),
            }
            if name == "xgrammar":
                cell["weakened"] = sum(_uses(c.schema, XGRAMMAR_IGNORES) for c, _ in ok) / len(rows)
            table.setdefault(subset, {})[name] = cell
            print(name, subset, json.dumps(cell), file=sys.stderr)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(table, indent=1))
    names = args.backends.split(",")
    print("| subset | n | " + " | ".join(f"{b} declared / p50 ms" for b in names) + " |")
    print("|---|---|" + "---|" * len(names))
    for subset, cells in table.items():
        parts = []
        for b in names:
            c = cells[b]
            extra = f" ({c['weakened']:.2f} weakened)" if "weakened" in c else ""
            parts.append(f"{c['declared']:.2f}{extra} / {c['compile_ms_p50']:.1f}")
        print(f"| {subset} | {cells[names[0]]['n']} | " + " | ".join(parts) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
