"""`structserve bench jsb-offline`: the structured-output policy on the JSONSchemaBench dev split,
offline (no engine, no model: byte-level grammars).

Per subset, over N sampled schemas: the declared coverage of the strict and the non-strict policy
(accepted / total), and whether a rewrite of ours costs a valid instance. For each schema, valid
instances are collected: random texts of the raw llguidance grammar of the client's schema (or of
that schema with the unenforced keywords stripped, or with `oneOf` approximated, when the raw one
does not compile), `bench.grammar_sampler`, kept only when jsonschema (the schema's draft, format
assertions on) says they are valid. Each is fed byte by byte through the grammar the policy
forwards *without* its generation bounds (`bench.schema_suite.UNBOUNDED`): a rejection there is a
valid instance lost to a rewrite (target: 0). Separately, how many the shipped bounds (default
limits: closed objects, blank runs, safe integers) exclude, by design, and how many of those
closing alone excludes.

    structserve bench jsb-offline --limit 40 --seed 0 --out results/jsb_offline.json
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from llguidance import LLMatcher
from tqdm import tqdm

from bench.grammar_backends import Backend, Compiled, LLGuidance, Tokens
from bench.grammar_sampler import samples
from bench.jsb_data import SUBSETS, Case, data_root, load_cases
from bench.schema_suite import UNBOUNDED
from compress.shared_data import shared_data_dir
from grammar.llg import JSON_DEFAULTS
from server.errors import InvalidRequest
from server.structured import StructuredLimits, StructuredService
from server.structured.keywords import unenforced_keywords, unknown_formats
from server.structured.plan import strip_keywords
from server.structured.validate import schema_validator

DEFAULT_CACHE = Path.home() / ".cache" / "structserve" / "jsonschemabench"
POLICIES = {
    "unbounded": UNBOUNDED,  # rewrites only
    "shipped": StructuredLimits(),  # rewrites + every generation bound
    "closing": StructuredLimits(max_blank_run=0, safe_integers=False),  # + closed objects only
}


def instance_grammars(schema: Any) -> Iterator[dict[str, Any]]:
    """The raw schema, then with unenforced keywords stripped, then with oneOf as anyOf, each
    with the engine's compile options (compact JSON)."""
    if not isinstance(schema, dict):
        return
    yield {**schema, "x-guidance": JSON_DEFAULTS}
    stripped = strip_keywords(schema, unenforced_keywords(schema) + unknown_formats(schema))
    yield {**stripped, "x-guidance": JSON_DEFAULTS}
    yield {**stripped, "x-guidance": {**JSON_DEFAULTS, "coerce_one_of": True}}


def collect_instances(schema: Any, backend: Backend, count: int, seed: int) -> list[str]:
    """Up to `count` compact texts that jsonschema says are valid for `schema`, drawn from the
    first grammar of `instance_grammars` that compiles."""
    try:
        validator = schema_validator(schema)
    except Exception:  # a schema jsonschema cannot build has no instances here
        return []
    for spec in instance_grammars(schema):
        compiled = backend.compile(spec)
        if compiled.handle is None:
            continue
        return [text for text in samples(compiled.handle, count, seed) if _valid(validator, text)]
    return []


def _valid(validator: Any, text: str) -> bool:
    try:
        return bool(validator.is_valid(json.loads(text)))
    except Exception:  # a validator crash (an exotic regex) proves nothing
        return False


def forwarded(service: StructuredService, schema: Any, *, strict: bool) -> Any | None:
    """The schema the policy forwards to the engine, or None when it refuses the schema."""
    spec = {"name": "jsb", "schema": schema, "strict": strict}
    try:
        service.plan({"response_format": {"type": "json_schema", "json_schema": spec}})
    except InvalidRequest:
        return None
    return spec["schema"]


def check_case(
    case: Case, services: dict[str, StructuredService], backend: LLGuidance, samples_per: int
) -> dict[str, Any]:
    """One schema: accepted by each policy; instances lost to rewrites or excluded by bounds."""
    row: dict[str, Any] = {"subset": case.subset, "name": case.name}
    instances = collect_instances(case.schema, backend, samples_per, seed=0)
    row["instances"] = len(instances)
    for strict in (True, False):
        mode = "strict" if strict else "nonstrict"
        names = list(services) if strict else ["unbounded", "shipped"]
        grammars = {
            name: _compile(backend, forwarded(services[name], case.schema, strict=strict))
            for name in names
        }
        row[f"{mode}_accepted"] = grammars["shipped"].handle is not None
        if not row[f"{mode}_accepted"]:
            continue
        passed = {name: accepted(backend, c, instances) for name, c in grammars.items()}
        kept = [t for t, ok in zip(instances, passed["unbounded"], strict=True) if ok]
        row[f"{mode}_lost"] = [t for t in instances if t not in kept]
        for name, key in (("shipped", "bounded"), ("closing", "closed")):
            if name in passed:
                excluded = [
                    not ok for ok, t in zip(passed[name], instances, strict=True) if t in kept
                ]
                row[f"{mode}_{key}"] = sum(excluded)
    return row


def accepted(backend: LLGuidance, compiled: Compiled, texts: list[str]) -> list[bool]:
    """Whether the grammar accepts each text fed byte by byte to the end (one matcher, copied)."""
    if compiled.handle is None:
        return [False] * len(texts)
    fresh = LLMatcher(backend.tokens.tokenizer, compiled.handle, log_level=0)
    results = []
    for text in texts:
        matcher = fresh.deep_copy()
        fed = all(matcher.consume_token(t) for t in backend.tokens.split(text))
        results.append(fed and matcher.is_accepting())
    return results


def _compile(backend: Backend, spec: Any | None) -> Compiled:
    return Compiled(None, "refused", 0.0) if spec is None else backend.compile(spec)


def summarize(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per subset: totals of `check_case` rows."""
    out: dict[str, dict[str, Any]] = {}
    for row in rows:
        s = out.setdefault(row["subset"], {"schemas": 0, "instances": 0})
        s["schemas"] += 1
        for mode in ("strict", "nonstrict"):
            accepted = row[f"{mode}_accepted"]
            s[f"{mode}_accepted"] = s.get(f"{mode}_accepted", 0) + accepted
            s[f"{mode}_instances"] = s.get(f"{mode}_instances", 0) + accepted * row["instances"]
            for key in ("lost", "bounded", "closed"):
                value = row.get(f"{mode}_{key}", 0)
                count = len(value) if isinstance(value, list) else value
                s[f"{mode}_{key}"] = s.get(f"{mode}_{key}", 0) + count
    return out


def markdown(summary: dict[str, dict[str, Any]]) -> str:
    """The per-subset table (coverage, then instances lost / excluded, strict and non-strict)."""
    lines = [
        "| subset | strict accepted | non-strict accepted | instances (strict / non-strict) "
        "| lost to rewrites (strict / non-strict) | excluded by bounds, by design "
        "(strict / non-strict) | of which closed objects (strict) |",
        "|---|---|---|---|---|---|---|",
    ]
    for subset, s in summary.items():
        n = s["schemas"]
        lines.append(
            f"| {subset} | {s['strict_accepted']}/{n} | {s['nonstrict_accepted']}/{n} "
            f"| {s['strict_instances']} / {s['nonstrict_instances']} "
            f"| {s['strict_lost']} / {s['nonstrict_lost']} "
            f"| {s['strict_bounded']} / {s['nonstrict_bounded']} "
            f"| {s['strict_closed']} |"
        )
    return "\n".join(lines)


@contextmanager
def _services() -> Iterator[dict[str, StructuredService]]:
    services = {name: StructuredService(limits) for name, limits in POLICIES.items()}
    try:
        yield services
    finally:
        for service in services.values():
            service.close()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark: print the markdown table, write per-schema and per-subset JSON."""
    p = argparse.ArgumentParser(prog="structserve bench jsb-offline", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--data", type=Path, default=shared_data_dir(), help="Data folder or .tgz.")
    p.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="Where the .tgz unpacks.")
    p.add_argument("--subsets", default=",".join(SUBSETS))
    p.add_argument("--limit", type=int, default=40, help="Schemas per subset.")
    p.add_argument("--seed", type=int, default=0, help="Seed of the schema sample.")
    p.add_argument("--samples", type=int, default=8, help="Instances drawn per schema.")
    p.add_argument("--out", type=Path, default=Path("results/jsb_offline.json"))
    args = p.parse_args(list(sys.argv[1:] if argv is None else argv))
    root = data_root(args.data, args.cache)
    cases = load_cases(root, args.subsets.split(","), args.limit, args.seed)
    backend = LLGuidance(Tokens.bytes())
    with _services() as services:
        rows = [check_case(c, services, backend, args.samples) for c in tqdm(cases, "schemas")]
    summary = summarize(rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"summary": summary, "schemas": rows}, indent=1))
    print(markdown(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
