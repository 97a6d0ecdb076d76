"""The shortest ends of JSON strings under `pattern`, `format`, `minLength` and `maxLength`.

A `pattern` is searched lazily (`budget_close.regex_search`: the fewest characters that reach a
match with the length bounds met), read as JSON Schema does (a match anywhere unless `^`/`$`
anchor it), as the engine's grammar (llguidance) does too.
A `format` the grammar spells out is searched the same way through a regular expression of its
common shape (FORMATS). Characters are tried in a fixed printable order and escapes are never
produced, so the text goes into JSON as is.
"""

from __future__ import annotations

import json
from typing import Any

from budget_close.regex_search import compile_search, shortest_end

_PLAIN = "a1A0_-. "  # tried first, printable, no JSON escape; "1" before "0": 1111-11-11 is a date
PRINTABLE = _PLAIN + "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in _PLAIN + '"\\')

# The formats a grammar spells out, as regular expressions of their common shapes (full match).
# A prefix these do not cover, or a completion the engine's grammar spells differently, gives no
# candidate or one the judge refuses: never a forced invalid string.
FORMATS = {
    "date-time": r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})",
    "date": r"[0-9]{4}-[0-9]{2}-[0-9]{2}",
    "time": r"[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})",
    "email": r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+",
    "uuid": r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}",
    "ipv4": r"([0-9]{1,3}\.){3}[0-9]{1,3}",
    "hostname": r"[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*",
    "uri": r"[A-Za-z][A-Za-z0-9+.-]*:[^ ]*",
    "duration": r"P([0-9]+[YMWD])+(T([0-9]+[HMS])+)?|PT([0-9]+[HMS])+",
}


def string_end(node: dict[str, Any], written: str) -> str | None:
    """The fewest characters that end a string value of `node` whose first characters
    (decoded) are `written`; None when this module cannot find any.

    Args:
        node: the string's schema (its `pattern`, `format`, `minLength`, `maxLength`).
        written: the string's decoded content so far.
    """
    low = int(node.get("minLength", 0))
    high = int(node["maxLength"]) if "maxLength" in node else None
    if high is not None and len(written) > high:
        return None
    fmt = node.get("format")
    if isinstance(fmt, str) and fmt in FORMATS and "pattern" not in node:
        return _pattern_end(f"^({FORMATS[fmt]})$", written, low, high)
    pattern = node.get("pattern")
    if isinstance(pattern, str):
        return _pattern_end(pattern, written, low, high)
    return "a" * max(0, low - len(written))


def _pattern_end(pattern: str, written: str, low: int, high: int | None) -> str | None:
    search = compile_search(pattern)
    return None if search is None else shortest_end(search, written, low, high, PRINTABLE)


def decoded(raw: str) -> str | None:
    """A string's content from its raw JSON text (without quotes; None if it does not parse)."""
    try:
        value = json.loads(f'"{raw}"')
    except ValueError:
        return None
    return value if isinstance(value, str) else None
