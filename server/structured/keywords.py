"""Which JSON Schema keywords the decoding backend (llguidance) enforces while generating.

Only the unenforced keywords are listed (the backend refuses or ignores them, so the gateway must
refuse them in strict mode or report them). Every other keyword is either enforced (the grammar
cannot produce a violating value; oneOf only when its branches are disjoint, `format` only for
FORMATS) or an annotation with no effect on validity ($schema, title, description, default, ...;
keys unknown to JSON Schema too: Draft 2020-12 ignores them).

The table is verified, not asserted: tests/unit/server/structured/test_table.py runs the token-level
JSON-Schema-Test-Suite (with `optional/format`) through the policy and fails on any invalid
instance accepted in a category this table calls enforced, and test_formats.py samples the
forwarded grammar of every format in FORMATS and validates each sample with the gateway's own
format checker. Which formats the validator asserts is read from jsonschema (it depends on the
schema's draft and on the installed `jsonschema[format]` extras), never listed here.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Literal

import jsonschema

from server.structured.validate import validator_class
from server.structured.walk import join, subschemas

BACKEND = "guidance"

UNENFORCED = frozenset(
    {
        "not", "uniqueItems", "contains", "minContains", "maxContains", "propertyNames",
        "dependentRequired", "dependentSchemas", "dependencies", "if", "then", "else",
        "unevaluatedProperties", "unevaluatedItems", "$dynamicRef", "$dynamicAnchor",
        "$recursiveRef", "$recursiveAnchor",
    }
)  # fmt: skip
"""Refused by llguidance (or, for then/else, meaningless without `if`)."""

FORMATS = frozenset(
    {"date", "date-time", "time", "duration", "email", "hostname", "ipv4", "ipv6", "uri", "uuid"}
)
"""Formats whose forwarded grammar accepts only strings the validator's format checker accepts:
llguidance's own grammar for `duration email ipv4 ipv6 uri uuid`, `hostname` with `maxLength:
253` added, and `date time date-time` replaced by exact patterns (`rewrites/formats.py`)."""

FormatStatus = Literal["enforced", "unenforced", "annotation"]


def format_checkers(schema: Any) -> dict[str, Callable[[object], bool]]:
    """The formats the gateway's validator asserts for `schema`'s draft, with their functions."""
    checker = validator_class(schema).FORMAT_CHECKER
    return {name: func for name, (func, _) in checker.checkers.items()}


def format_status(name: str, checkers: dict[str, Callable[[object], bool]]) -> FormatStatus:
    """How the policy treats `format: name` under a draft whose validator has `checkers`.

    Returns:
        "enforced": in FORMATS and checked (if at all) by the same function as in Draft 2020-12,
        where the grammar is verified; "unenforced": the validator asserts it, the grammar
        cannot (refused under strict); "annotation": nobody asserts it (not forwarded).
    """
    reference = jsonschema.Draft202012Validator.FORMAT_CHECKER.checkers
    checked = checkers.get(name)
    if name in FORMATS and (checked is None or checked is reference[name][0]):
        return "enforced"
    return "unenforced" if checked is not None else "annotation"


def unenforced_keywords(schema: Any) -> list[dict[str, str]]:
    """List every keyword of `schema` the backend would not enforce, with its JSON pointer.

    Args:
        schema: a schema document already checked against its metaschema.

    Returns:
        [{"keyword", "pointer", "reason"}] in document order.
    """
    checkers = format_checkers(schema)
    found: list[dict[str, str]] = []
    for where, node in subschemas(schema):
        for key, value in node.items():
            reason = _reason(key, value, checkers)
            if reason:
                found.append({"keyword": key, "pointer": join(where, key), "reason": reason})
    found.sort(key=lambda item: item["pointer"])
    return found


def unknown_formats(schema: Any) -> list[dict[str, str]]:
    """`format` values nobody asserts (neither the backend nor, for this draft, the validator):
    annotations by the spec, which the backend would refuse, so they are not forwarded."""
    checkers = format_checkers(schema)
    return [
        {"keyword": "format", "pointer": join(where, "format"), "reason": "unknown format"}
        for where, node in subschemas(schema)
        if isinstance(node.get("format"), str)
        and format_status(node["format"], checkers) == "annotation"
    ]


def _reason(key: str, value: Any, checkers: dict[str, Callable[[object], bool]]) -> str | None:
    if key in UNENFORCED:
        return f"the {BACKEND} decoding backend does not support `{key}`"
    if key != "format" or not isinstance(value, str):
        return None
    if format_status(value, checkers) == "unenforced":
        return f"the {BACKEND} decoding backend cannot generate format {value!r} exactly"
    return None


_KEY_IN_ERROR = re.compile(r"[A-Za-z$][A-Za-z]+")
# keywords whose names are distinctive enough to be recognised inside an error message
_NAMEABLE = frozenset({"oneOf", "allOf", "anyOf", "$ref", "pattern", "patternProperties"})


def keywords_in_message(schema: Any, message: str) -> list[dict[str, str]]:
    """Map a backend error message to the keywords (and pointers) it names.

    Args:
        schema: the schema the backend refused.
        message: the backend's error or warning text.

    Returns:
        [{"keyword", "pointer", "reason"}] for each occurrence of each named keyword.
    """
    nameable = UNENFORCED | _NAMEABLE
    named = {word for word in _KEY_IN_ERROR.findall(message) if word in nameable}
    if "oneOf" in named:  # "...approximate oneOf with anyOf": anyOf is not at fault
        named.discard("anyOf")
    if "Unknown format" in message:
        named.add("format")
    found = [
        {"keyword": key, "pointer": join(where, key), "reason": message}
        for where, node in subschemas(schema)
        for key in node
        if key in named
    ]
    return sorted(found, key=lambda item: item["pointer"])
