"""Generation bounds: close the degrees of freedom a JSON Schema leaves open that let a model loop
on *form* (not content) until max_tokens.

These rewrite only the schema the engine compiles (the grammar); outputs are still validated
against the client's schema, which the bounds never touch. Each bound narrows what the model may
*generate*, never what counts as valid, and is chosen so that no document a client could
reasonably want is excluded:

- blank runs in strings: a `type: string` schema with no `pattern`, `format`, `enum` or `const`
  gets `pattern: ^(?:[\\x00-\\x20]{0,N}[^\\x00-\\x20])*[\\x00-\\x20]{0,N}$` — at most N
  consecutive blanks (space and the C0 controls, `\\n \\t \\r \\u001f` …) inside one string.
  `blank_run_pattern(N)`; N = `StructuredLimits.max_blank_run` (setting
  `structured_max_blank_run`, default 32; 0 turns it off). Deep code indentation still fits.
- integers: a `type: integer` schema (not also `number`) without a lower/upper bound gets
  `minimum: -(2**53 - 1)` / `maximum: 2**53 - 1`, the range RFC 8259 §6 calls interoperable
  (IEEE doubles hold it exactly); beyond it the backend's own range arithmetic is inexact too.
  A one-sided bound outside that range is left alone. Setting `structured_safe_integers`
  (default true).

Not bounded (no schema keyword or backend option expresses it without excluding reasonable
documents): string and array *length* (a repeated n-gram or item is content), digits of
`number` fractions, nesting inside untyped (`{}`) values, repeated keys under
`additionalProperties`.
"""

from __future__ import annotations

from typing import Any

from server.structured.walk import subschemas

SAFE_INTEGER = 2**53 - 1
"""Largest integer every IEEE-double JSON parser holds exactly (RFC 8259 §6)."""

BLANKS = r"[\x00-\x20]"
_FREE_STRING_KEYS = ("pattern", "format", "enum", "const")


def blank_run_pattern(limit: int) -> str:
    """A regex of the strings with at most `limit` consecutive blanks (space, C0 controls)."""
    return rf"^(?:{BLANKS}{{0,{limit}}}[^\x00-\x20])*{BLANKS}{{0,{limit}}}$"


def _types(node: dict[str, Any]) -> set[str]:
    kind = node.get("type")
    if isinstance(kind, str):
        return {kind}
    if isinstance(kind, list):
        return {k for k in kind if isinstance(k, str)}
    return set()


def _bound_string(node: dict[str, Any], limit: int) -> bool:
    if "string" not in _types(node) or any(key in node for key in _FREE_STRING_KEYS):
        return False
    max_length = node.get("maxLength")
    if isinstance(max_length, int) and max_length <= limit:
        return False  # the length already bounds every run
    node["pattern"] = blank_run_pattern(limit)
    return True


def _bounds(node: dict[str, Any], *keys: str) -> list[float]:
    values = (node.get(key) for key in keys)
    return [float(v) for v in values if isinstance(v, int | float) and not isinstance(v, bool)]


def _bound_integer(node: dict[str, Any]) -> bool:
    types = _types(node)
    if "integer" not in types or "number" in types or "enum" in node or "const" in node:
        return False
    low = _bounds(node, "minimum", "exclusiveMinimum")
    high = _bounds(node, "maximum", "exclusiveMaximum")
    changed = False
    if not low and all(h > -SAFE_INTEGER for h in high):
        node["minimum"] = -SAFE_INTEGER
        changed = True
    if not high and all(lo < SAFE_INTEGER for lo in low):
        node["maximum"] = SAFE_INTEGER
        changed = True
    return changed


def apply_bounds(schema: Any, *, max_blank_run: int, safe_integers: bool) -> list[str]:
    """Add the generation bounds to a schema the engine will compile (in place).

    Args:
        schema: the forwarded schema (a copy of the client's; never the one validated against).
        max_blank_run: most consecutive blanks inside a string; 0 leaves strings alone.
        safe_integers: bound unbounded integers to ±(2**53 - 1).

    Returns:
        The JSON pointers of the subschemas that got a bound (empty: nothing changed).
    """
    bounded: list[str] = []
    if not isinstance(schema, dict):
        return bounded
    for pointer, node in list(subschemas(schema)):
        strung = max_blank_run > 0 and _bound_string(node, max_blank_run)
        counted = safe_integers and _bound_integer(node)
        if strung or counted:
            bounded.append(pointer)
    return bounded
