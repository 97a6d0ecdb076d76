"""Which JSON Schema keywords the decoding backend (llguidance) enforces while generating.

Only the unenforced keywords are listed (the backend refuses or ignores them, so the gateway must
refuse them in strict mode or report them). Every other keyword is either enforced (the grammar
cannot produce a violating value; oneOf only when its branches are disjoint, `format` only for
FORMATS) or an annotation with no effect on validity ($schema, title, description, default, ...;
keys unknown to JSON Schema too: Draft 2020-12 ignores them).
"""

from __future__ import annotations

import re
from typing import Any

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
"""Formats llguidance generates exactly."""

CHECKED_FORMATS = frozenset(
    {
        "idn-email", "idn-hostname", "iri", "iri-reference", "json-pointer", "regex",
        "relative-json-pointer", "uri-reference", "uri-template",
    }
)  # fmt: skip
"""Formats the gateway's validator asserts but the backend cannot generate."""


def unenforced_keywords(schema: Any) -> list[dict[str, str]]:
    """List every keyword of `schema` the backend would not enforce, with its JSON pointer.

    Args:
        schema: a schema document already checked against its metaschema.

    Returns:
        [{"keyword", "pointer", "reason"}] in document order.
    """
    found: list[dict[str, str]] = []
    for where, node in subschemas(schema):
        for key, value in node.items():
            reason = _reason(key, value)
            if reason:
                found.append({"keyword": key, "pointer": join(where, key), "reason": reason})
    found.sort(key=lambda item: item["pointer"])
    return found


def unknown_formats(schema: Any) -> list[dict[str, str]]:
    """`format` values neither the backend nor the validator knows: annotations by the spec
    (nothing asserts them), which the backend would refuse, so they are not forwarded."""
    known = FORMATS | CHECKED_FORMATS
    return [
        {"keyword": "format", "pointer": join(where, "format"), "reason": "unknown format"}
        for where, node in subschemas(schema)
        if isinstance(node.get("format"), str) and node["format"] not in known
    ]


def _reason(key: str, value: Any) -> str | None:
    if key in UNENFORCED:
        return f"the {BACKEND} decoding backend does not support `{key}`"
    if key == "format" and value in CHECKED_FORMATS:
        return f"the {BACKEND} decoding backend cannot generate format {value!r}"
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
