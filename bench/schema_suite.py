"""Token-level check on the official JSON-Schema-Test-Suite (draft2020-12, with
`optional/format`), as in the JSONSchemaBench paper's appendix: each instance is serialized
compactly and fed token by token through the backend's matcher; it must be accepted to the end.
A refused schema rejects every instance. Per category (test file; format files are named
`format/<name>`): full (every case right), over-constrained (a valid instance rejected),
under-constrained (an invalid instance accepted: a broken guarantee).

    structserve bench schema-suite --backends structserve,llguidance --out suite.json
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

from bench.grammar_backends import DEFAULT_MODEL, Backend, make
from server.structured import StructuredLimits

VERSION = "4.26.0"
DEFAULT_CACHE = Path.home() / ".cache" / "structserve" / "schema-suite"
UNBOUNDED = StructuredLimits(close_objects=False, max_blank_run=0, safe_integers=False)
"""The policy without its generation bounds: what rewrites alone do to the language."""


def suite_dir(cache: Path = DEFAULT_CACHE, sdist: Path | None = None) -> Path:
    """The suite's `json/tests` folder from the jsonschema sdist (downloaded with `pip download`
    into `cache` when `sdist` is not given)."""
    target = cache / f"jsonschema-{VERSION}"
    marker = cache / f".jsonschema-{VERSION}.unpacked"  # written last: a cut extraction redoes
    if not marker.exists():
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
        marker.touch()
    return target / "json" / "tests"


def suite_files(tests: Path, *, formats: bool = True) -> dict[str, Path]:
    """Category name -> test file: draft2020-12's core files, plus `format/<name>` files."""
    draft = tests / "draft2020-12"
    found = {path.stem: path for path in sorted(draft.glob("*.json"))}
    if formats:
        found |= {f"format/{p.stem}": p for p in sorted((draft / "optional/format").glob("*.json"))}
    return found


def check_category(backend: Backend, path: Path) -> dict[str, Any]:
    """Run every case of one test file through one backend."""
    row: dict[str, Any] = {"cases": 0, "passed": 0, "over": 0, "under": 0, "refused_groups": 0}
    row |= {"ms": [], "under_cases": []}
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
            if accepted and not case["valid"]:
                row["under"] += 1
                row["under_cases"].append(f"{group['description']}: {case['description']}")
    return row


def run_backend(backend: Backend, files: dict[str, Path]) -> dict[str, Any]:
    """Every category through one backend: {"totals", "categories"}."""
    rows = {name: check_category(backend, path) for name, path in files.items()}
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
    return {"totals": totals, "categories": rows}


def main(argv: Sequence[str] | None = None) -> int:
    """Print per-backend totals (markdown) and write the per-category JSON."""
    p = argparse.ArgumentParser(prog="structserve bench schema-suite", description=__doc__)
    p.add_argument("--backends", default="structserve,llguidance")
    p.add_argument("--model-dir", type=Path, default=DEFAULT_MODEL,
                   help="Tokenizer of the served model.")  # fmt: skip
    p.add_argument("--bytes", action="store_true", help="Feed bytes, not the model's tokens.")
    p.add_argument("--no-bounds", action="store_true",
                   help="structserve without its generation bounds (rewrites only).")  # fmt: skip
    p.add_argument("--no-formats", action="store_true", help="Leave out optional/format.")
    p.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    p.add_argument("--sdist", type=Path, help="A jsonschema sdist .tar.gz already downloaded.")
    p.add_argument("--out", type=Path, default=Path("results/schema_suite.json"))
    args = p.parse_args(list(sys.argv[1:] if argv is None else argv))
    files = suite_files(suite_dir(args.cache, args.sdist), formats=not args.no_formats)
    limits = UNBOUNDED if args.no_bounds else None
    model_dir = None if args.bytes else args.model_dir
    result = {
        name: run_backend(make(name, model_dir, limits), files) for name in args.backends.split(",")
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    print(markdown(result))
    return 0


def markdown(result: dict[str, dict[str, Any]]) -> str:
    """Totals table plus the categories each backend gets fully right or under-constrains."""
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
        rows = result[n]["categories"]
        full = [c for c, r in rows.items() if r["passed"] == r["cases"]]
        under = [c for c, r in rows.items() if r["under"]]
        lines.append(f"- {n} fully right: {', '.join(full) or 'none'}")
        lines.append(f"- {n} under-constrained: {', '.join(under) or 'none'}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
