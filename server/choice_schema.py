"""Choice sets inside JSON schemas: `{"type": "string", "x-choice-set": "NAME"}` (issue 18).

The gateway replaces each such node's keyword by `enum` with the set's items, in the schema it
forwards *and* validates against, so the grammar backend enforces the property and the verdict
checks it. llguidance lexes an `enum` (it does not parse it as grammar alternatives), and takes
~40k short strings (measured: 10k and 40k compile in 0.07-0.2 s; 60k: "schema too large"), so
this path is bounded by `choice_set_schema_max_items` (20,000); larger sets are only usable as
the whole output (`structured_outputs.choice_set`). The request's structured-output limits are
raised by what the expansion added (enum length, schema bytes), not by what the client wrote.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator
from typing import Any

from server.errors import InvalidRequest
from server.structured.schema import StructuredLimits

KEYWORD = "x-choice-set"
INSTANCE_KEYWORDS = frozenset({"enum", "const", "default", "examples"})
"""Keywords whose values are JSON instances, not schemas: never searched for the keyword."""


def schema_slots(body: dict[str, Any]) -> list[tuple[dict[str, Any], str, str]]:
    """(container, key, param) of each JSON schema a request carries: `response_format`'s
    json_schema and `structured_outputs.json`."""
    slots = []
    fmt = body.get("response_format")
    if isinstance(fmt, dict) and isinstance(fmt.get("json_schema"), dict):
        slots.append((fmt["json_schema"], "schema", "response_format.json_schema.schema"))
    outputs = body.get("structured_outputs")
    if isinstance(outputs, dict) and isinstance(outputs.get("json"), dict):
        slots.append((outputs, "json", "structured_outputs.json"))
    return slots


def uses_choice_sets(body: dict[str, Any]) -> bool:
    """Whether any schema of the request names a choice set."""
    return any(any(True for _ in _nodes(c[k])) for c, k, _ in schema_slots(body))


def expand(
    body: dict[str, Any],
    items_of: Callable[[str, str], list[str]],
    limits: StructuredLimits,
    max_items: int,
) -> StructuredLimits:
    """Replace every `x-choice-set` in the request's schemas by `enum` (in place).

    Args:
        body: the request.
        items_of: (set name, param) -> the set's items (raises the gateway's 404).
        limits: the configured structured-output limits.
        max_items: the largest set a schema may embed.

    Returns:
        The limits for this request: enum length and schema bytes raised by the expansion.

    Raises:
        InvalidRequest: a malformed keyword, a node that also has enum/const, a set too large.
    """
    longest, added = 0, 0
    for container, key, param in schema_slots(body):
        for node in list(_nodes(container[key])):
            items = _expand_node(node, items_of, max_items, param)
            longest = max(longest, len(items))
            added += len(json.dumps(items))
    return dataclasses.replace(
        limits,
        max_enum_values=max(limits.max_enum_values, longest),
        max_schema_bytes=limits.max_schema_bytes + added,
    )


def _expand_node(
    node: dict[str, Any], items_of: Callable[[str, str], list[str]], max_items: int, param: str
) -> list[str]:
    name = node.pop(KEYWORD)
    if not isinstance(name, str):
        raise InvalidRequest(f"{KEYWORD} must name a registered choice set", param=param)
    if "enum" in node or "const" in node:
        raise InvalidRequest(f"{KEYWORD} cannot sit beside enum or const", param=param)
    if node.get("type", "string") != "string":
        raise InvalidRequest(f"{KEYWORD} needs a string node (type: string)", param=param)
    items = items_of(name, param)
    if len(items) > max_items:
        raise InvalidRequest(
            f"choice set {name!r} has {len(items)} items; a schema can embed at most {max_items} "
            "(use structured_outputs.choice_set for the whole output)",
            param=param,
            code="schema_too_complex",
        )
    node["type"] = "string"
    node["enum"] = items
    return items


def _nodes(schema: Any) -> Iterator[dict[str, Any]]:
    """Every object in the schema document holding `x-choice-set` with a non-object value (an
    object value is a property named "x-choice-set")."""
    if isinstance(schema, dict):
        if KEYWORD in schema and not isinstance(schema[KEYWORD], dict):
            yield schema
        for key, value in schema.items():
            if key not in INSTANCE_KEYWORDS:
                yield from _nodes(value)
    elif isinstance(schema, list):
        for value in schema:
            yield from _nodes(value)
