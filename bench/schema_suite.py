"""Token-level check on the official JSON-Schema-Test-Suite (draft2020-12), as in the
JSONSchemaBench paper's appendix: each instance is serialized compactly, tokenized with the served
model's tokenizer and fed token by token through the backend's matcher; it must be accepted to
the end. A refused schema rejects every instance. Per category (test file): full (every case
right), over-constrained (a valid instance rejected), under-constrained (an invalid one accepted).

    python -m bench.schema_suite --backends structserve,llguidance,xgrammar
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tarfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.grammar_backends import DEFAULT_MODEL, make

VERSION = "4.26.0"
DEFAULT_CACHE = Path.home() / ".cache" / "structserve" / "schema-suite"


def suite_files(cache: Path, sdist: Path | None) -> list[Path]:
    """The draft2020-12 test files (not optional/), from the jsonschema sdist (downloaded with
    `pip download` into `cache` when not given)."""
    target = cache / f"jsonschema-{VERSION}"
    if not target.is_dir():
        if sdist is None:
            cache.mkdir(parents=True, exist_ok=True)
            subprocess.run(
                [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                 f"jsonschema=={VERSION}", "-d", str(cache), "-q"],
                check=True,
            )  # fmt: skip
            sdist = cache / f"jsonschema-{VERSION}.tar.gz"
        with tarfile.open(sdist) as tar:
            tar.extractall(cache, filter="data")
    return sorted((target / "json" / "tests" / "draft2020-12").glob("*.json"))


def check_category(backend: Any, path: Path) -> dict[str, Any]:
    """Run every case of one test file through one backend."""
    row = {"cases": 0, "passed": 0, "over": 0, "under": 0, "refused_groups": 0, "ms": []}
    for group in json.loads(path.read_text()):
        compiled = backend.compile(group["schema"])
        row["ms"].append(compiled.ms)
        row["refused_groups"] += compiled.handle is None
        for case in group["tests"]:
            text = json.dumps(case["data"], separators=(",", ":"))
            accepted = backend.accepts(compiled, text)
            row["cases"] += 1
            row["passed"] += accepted == case["valid"]
            row["over"] += case["valid"] and not accepted
            row["under"] += accepted and not case["valid"]
    return row


def main(argv: Sequence[str] | None = None) -> int:
    """Print per-category verdicts and totals per backend; write JSON."""
    p = argparse.ArgumentParser(prog="python -m bench.schema_suite", description=__doc__)
    p.add_argument("--backends", default="structserve,llguidance,xgrammar")
    p.add_argument("--model-dir", type=Path, default=DEFAULT_MODEL)
    p.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    p.add_argument("--sdist", type=Path, help="A jsonschema sdist .tar.gz already downloaded.")
    p.add_argument("--out", type=Path, default=Path("results/schema_suite.json"))
    args = p.parse_args(list(sys.argv[1:] if argv is None else argv))
    files = suite_files(args.cache, args.sdist)
    result: dict[str, dict[str, Any]] = {}
    for name in args.backends.split(","):
        backend = make(name, args.model_dir)
        rows = {path.stem: check_category(backend, path) for path in files}
        ms = sorted(m for r in rows.values() for m in r.pop("ms"))
        totals = {
            "categories": len(rows),
            "full": sum(r["passed"] == r["cases"] for r in rows.values()),
            "over_categories": sum(r["over"] > 0 for r in rows.values()),
            "under_categories": sum(r["under"] > 0 for r in rows.values()),
            "cases": sum(r["cases"] for r in rows.values()),
            "passed": sum(r["passed"] for r in rows.values()),
            "over_cases": sum(r["over"] for r in rows.values()),
            "under_cases": sum(r["under"] for r in rows.values()),
            "refused_groups": sum(r["refused_groups"] for r in rows.values()),
            "compile_ms_p50": ms[len(ms) // 2],
            "compile_ms_max": ms[-1],
        }
        result[name] = {"totals": totals, "categories": rows}
        print(name, json.dumps(totals), file=sys.stderr)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    print(markdown(result))
    return 0


def markdown(result: dict[str, dict[str, Any]]) -> str:
    """Totals table plus the categories each backend under-constrains."""
    names = list(result)
    keys = ("full", "over_categories", "under_categories", "passed", "over_cases",
            "under_cases", "refused_groups", "compile_ms_p50", "compile_ms_max")  # fmt: skip
    lines = ["| | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for key in keys:
        cells = []
        for n in names:
            value = result[n]["totals"][key]
            cells.append(f"{value:.1f}" if isinstance(value, float) else str(value))
        lines.append(f"| {key} | " + " | ".join(cells) + " |")
    total = result[names[0]]["totals"]
    lines.append(f"\n{total['categories']} categories, {total['cases']} cases.")
    for n in names:
        under = [c for c, r in result[n]["categories"].items() if r["under"]]
        lines.append(f"- {n} under-constrained: {', '.join(under) or 'none'}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
