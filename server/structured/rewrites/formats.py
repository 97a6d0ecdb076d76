"""`format` values whose llguidance grammar accepts strings the gateway's validator rejects,
rewritten so the forwarded grammar accepts exactly what the validator does.

The validator is jsonschema's FORMAT_CHECKER with the `jsonschema[format]` extras
(`server/structured/validate.py`):
- `date`: `^\\d{4}-\\d{2}-\\d{2}$` and `datetime.date.fromisoformat`: years 0001-9999, real
  month lengths, 29 February only in leap years (divisible by 4, centuries only by 400).
  llguidance allows 0000 and every 29 February: replaced by the finite regex DATE.
- `time`, `date-time`: rfc3339-validator (the input upper-cased first, so `t`/`z` pass), which
  rejects leap seconds (`:60`) outright; llguidance allows `:60` and every 29 February. Replaced by
  TIME / DATE + `[tT]` + TIME: no leap seconds (exactly what the validator accepts).
- `hostname`: fqdn's `FQDN(..., min_labels=1)`: labels as in llguidance's grammar, but at most 253
  characters in all; llguidance has no total bound, so `maxLength: 253` is added.

`format` is replaced by `pattern` (anchored; llguidance accepts this regex syntax). A node that
already has a `pattern` keeps it and gets the exact one in `allOf` (llguidance intersects the
two). Formats the schema's draft checks with another function (draft-03 `time`) are left alone
for the policy to classify (`keywords.format_status`). Over-constraining is allowed, never
under-constraining: every string the rewritten grammar accepts passes the validator
(tests/unit/server/structured/test_formats.py samples each grammar and checks the regexes
exhaustively over dates).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from server.structured.keywords import format_checkers, format_status
from server.structured.walk import resolve_pointer, subschemas

_YEAR = r"(?:[1-9][0-9]{3}|0[1-9][0-9]{2}|00[1-9][0-9]|000[1-9])"  # 0001-9999
_MULTIPLE_OF_4 = r"(?:0[48]|[2468][048]|[13579][26])"  # two digits, 04..96, not 00
_LEAP_YEAR = rf"(?:[0-9]{{2}}{_MULTIPLE_OF_4}|{_MULTIPLE_OF_4}00)"  # 0400, 0800, .. 2000, ..
_MONTH_DAY = (
    r"(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])"
    r"|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)"
    r"|02-(?:0[1-9]|1[0-9]|2[0-8]))"
)
DATE = rf"(?:{_YEAR}-{_MONTH_DAY}|{_LEAP_YEAR}-02-29)"
"""RFC 3339 full-date with the validator's calendar (proleptic Gregorian, years 0001-9999)."""
_OFFSET = r"(?:[zZ]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"
TIME = rf"(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]+)?{_OFFSET}"
"""RFC 3339 full-time without leap seconds (rfc3339-validator rejects `:60`)."""

PATTERNS = {"date": f"^{DATE}$", "time": f"^{TIME}$", "date-time": f"^{DATE}[tT]{TIME}$"}
"""Exact forwarded pattern per rewritten format."""
HOSTNAME_MAX_LENGTH = 253
"""Longest hostname fqdn accepts (RFC 1035 §3.1, without the root label)."""


def apply(schema: Any) -> Any:
    """Rewrite `schema` (a private copy: changed in place); returns the result."""
    if not isinstance(schema, dict):
        return schema
    checkers = format_checkers(schema)
    for node in _schema_nodes(schema):
        name = node.get("format")
        if not isinstance(name, str) or format_status(name, checkers) != "enforced":
            continue
        if name in PATTERNS:
            del node["format"]
            _add_pattern(node, PATTERNS[name])
        elif name == "hostname":
            limit = node.get("maxLength")
            fits = isinstance(limit, int) and limit <= HOSTNAME_MAX_LENGTH
            node["maxLength"] = limit if fits else HOSTNAME_MAX_LENGTH
    return schema


def _add_pattern(node: dict[str, Any], pattern: str) -> None:
    if "pattern" not in node:
        node["pattern"] = pattern
        return
    all_of = node.get("allOf")
    node["allOf"] = [*(all_of if isinstance(all_of, list) else []), {"pattern": pattern}]


def _schema_nodes(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """Every subschema, including those only reached by a local `$ref` into a location the
    walker does not know (`{"$ref": "#/x", "x": {...}}`: the backend follows it too)."""
    seen: set[int] = set()
    found: list[dict[str, Any]] = []
    pending: list[tuple[str, Any]] = [("", schema)]
    while pending:
        where, start = pending.pop()
        for _, node in subschemas(start, where):
            if id(node) in seen:
                continue
            seen.add(id(node))
            found.append(node)
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/"):
                pointer = unquote(ref[1:])
                try:
                    pending.append((pointer, resolve_pointer(schema, pointer)))
                except KeyError:
                    continue  # refused by the $ref check before any rewrite runs
    return found
