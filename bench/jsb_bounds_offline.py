"""Declared coverage and compile time of the gateway policy with the generation bounds on and off
(no engine): `python -m bench.jsb_bounds_offline [--limit 40]` prints a markdown table."""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import time
from collections.abc import Sequence
from typing import Any

from bench.jsb_data import SUBSETS, data_root, load_cases
from bench.jsonschemabench import DEFAULT_CACHE, DEFAULT_DATA
from server.errors import InvalidRequest
from server.structured import StructuredService
from server.structured.schema import StructuredLimits


def _plan(service: StructuredService, schema: Any) -> tuple[bool, float, bool]:
    """(accepted, seconds, forwarded schema carries a bound)."""
    spec = {"schema": copy.deepcopy(schema), "strict": True}
    body = {"response_format": {"type": "json_schema", "json_schema": spec}}
    start = time.perf_counter()
    try:
        service.plan(body)
    except InvalidRequest:
        return False, time.perf_counter() - start, False
    text = json.dumps(spec["schema"])
    return True, time.perf_counter() - start, "x00-" in text or "9007199254740991" in text


def main(argv: Sequence[str] | None = None) -> int:
    """Print accepted schemas and median compile ms per subset, bounds off vs on."""
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--limit", type=int, default=40, help="Schemas per subset (0: all).")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    root = data_root(DEFAULT_DATA, DEFAULT_CACHE)
    cases = load_cases(root, list(SUBSETS), args.limit or None, args.seed)
    services = {
        "off": StructuredService(StructuredLimits(max_blank_run=0, safe_integers=False)),
        "on": StructuredService(StructuredLimits()),
    }
    rows: dict[str, dict[str, Any]] = {}
    for case in cases:
        row = rows.setdefault(case.subset, {"n": 0, "off": [], "on": [], "bounded": 0})
        row["n"] += 1
        for name, service in services.items():
            ok, seconds, bounded = _plan(service, case.schema)
            if ok:
                row[name].append(seconds * 1000)
            row["bounded"] += bounded
    for service in services.values():
        service.close()
    print("| subset | n | accepted off / on | with a bound | compile ms p50 off / on |")
    print("|---|---|---|---|---|")
    for subset, row in rows.items():
        med = [statistics.median(row[k]) if row[k] else 0.0 for k in ("off", "on")]
        print(
            f"| {subset} | {row['n']} | {len(row['off'])} / {len(row['on'])} | {row['bounded']} "
            f"| {med[0]:.1f} / {med[1]:.1f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
