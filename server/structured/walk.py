"""Walk a JSON Schema document: every subschema with its JSON pointer.

Knows where each draft (4 to 2020-12) puts subschemas, so keyword checks and rewrites see the
whole document, including `$defs`/`definitions` that are only reached through `$ref`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

# keyword -> how its value holds subschemas
_SINGLE = (
    "additionalProperties",
    "unevaluatedProperties",
    "propertyNames",
    "contains",
    "additionalItems",
    "unevaluatedItems",
    "not",
    "if",
    "then",
    "else",
    "contentSchema",
)
_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems")
_MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")


def escape(token: str) -> str:
    """Escape one JSON-pointer reference token (RFC 6901)."""
    return token.replace("~", "~0").replace("/", "~1")


def join(pointer: str, *tokens: str | int) -> str:
    """Append reference tokens to a JSON pointer."""
    return pointer + "".join("/" + escape(str(token)) for token in tokens)


def subschemas(schema: Any, pointer: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield (pointer, subschema) for every object subschema, the root first (iterative).

    Args:
        schema: the schema document (booleans and non-dicts yield nothing).
        pointer: pointer of `schema` inside its document.

    Returns:
        An iterator of (JSON pointer, subschema dict) pairs.
    """
    stack: list[tuple[str, Any]] = [(pointer, schema)]
    while stack:
        where, node = stack.pop()
        if not isinstance(node, dict):
            continue
        yield where, node
        stack.extend(_children(where, node))


def _children(where: str, node: dict[str, Any]) -> list[tuple[str, Any]]:
    found: list[tuple[str, Any]] = []
    for key in _SINGLE:
        if isinstance(node.get(key), dict):
            found.append((join(where, key), node[key]))
    for key in _LISTS:
        if isinstance(node.get(key), list):
            found.extend((join(where, key, i), sub) for i, sub in enumerate(node[key]))
    for key in _MAPS:
        if isinstance(node.get(key), dict):
            found.extend((join(where, key, name), sub) for name, sub in node[key].items())
    items = node.get("items")
    if isinstance(items, dict):
        found.append((join(where, "items"), items))
    elif isinstance(items, list):
        found.extend((join(where, "items", i), sub) for i, sub in enumerate(items))
    deps = node.get("dependencies")
    if isinstance(deps, dict):
        found.extend(
            (join(where, "dependencies", name), sub)
            for name, sub in deps.items()
            if isinstance(sub, dict)
        )
    return found


def depth(value: Any, limit: int) -> int:
    """Nesting depth of a JSON value, counting stops once it exceeds `limit` (iterative)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, level = stack.pop()
        deepest = max(deepest, level)
        if deepest > limit:
            return deepest
        if isinstance(node, dict):
            stack.extend((child, level + 1) for child in node.values())
        elif isinstance(node, list):
            stack.extend((child, level + 1) for child in node)
    return deepest


def resolve_pointer(document: Any, pointer: str) -> Any:
    """The value at a JSON pointer; raises KeyError when it does not exist."""
    node = document
    if pointer in ("", "/"):
        return node if pointer == "" else _step(node, "")
    for raw in pointer.lstrip("/").split("/"):
        node = _step(node, raw.replace("~1", "/").replace("~0", "~"))
    return node


def _step(node: Any, token: str) -> Any:
    if isinstance(node, dict):
        return node[token]
    if isinstance(node, list) and token.isdigit() and int(token) < len(node):
        return node[int(token)]
    raise KeyError(token)
