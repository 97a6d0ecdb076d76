"""Generation bound: objects generate only the properties their schema names.

`close_objects` adds `additionalProperties: false` to the *forwarded* grammar (never to the schema
outputs are validated against), so small models stop inventing keys until max_tokens. Setting
`structured_close_objects` (`StructuredLimits.close_objects`).

Closing is only sound where a node's properties are all the instance may have. It is not where
other subschemas apply to the same instance and name (or require) more properties: a `$ref` with
sibling keywords, `allOf`, `anyOf`/`oneOf` beside the node's own object keywords, `if`/`then`/
`else`, `dependentSchemas`/`dependencies`. Every node taking part in such a composition (the node,
its branches, the targets of their `$ref`s, and transitively what those merge in) stays open, so
`{"$ref": "#/$defs/Base", "properties": {"name": ...}}` with Base requiring `id` stays satisfiable.
A pure union (`anyOf: [{"$ref": A}, {"$ref": B}]`, nothing else on the object) closes each
branch, since each branch alone describes the whole instance. `oneOf` branches never close: the
backend proves them disjoint before it enforces them, and closed branches can look disjoint when
the client's open ones overlap (`{"x": 1}` matches both `{"required": ["x"]}` and an open
`{"properties": {"y": {}}}`), which would let a strict request generate an invalid output.
The policy still compiles the unclosed grammar when the closed one fails
(`server.structured.plan`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from server.structured.walk import resolve_pointer, subschemas

_OBJECT_KEYS = (
    "properties", "patternProperties", "additionalProperties", "required", "minProperties",
    "maxProperties", "propertyNames", "unevaluatedProperties", "dependentRequired", "dependencies",
)  # fmt: skip
"""Keywords by which a node itself constrains an object's properties."""


class _Unresolved(LookupError):
    """A `$ref` inside a composition that this module cannot follow (closing is skipped)."""


def close_objects(schema: Any) -> list[str]:
    """Close, in place, every object subschema that alone decides which properties an instance
    may have and whose named properties cover its `required`.

    Args:
        schema: the forwarded schema (a copy of the client's; never the one validated against).

    Returns:
        The JSON pointers of the subschemas that got `additionalProperties: false` (empty when
        nothing changed, or when a composed `$ref` cannot be followed).
    """
    if not isinstance(schema, dict):
        return []
    try:
        kept_open = _composed_nodes(schema)
    except _Unresolved:
        return []
    closed = []
    for pointer, node in subschemas(schema):
        if id(node) not in kept_open and _closable(node):
            node["additionalProperties"] = False
            closed.append(pointer)
    return closed


def _closable(node: dict[str, Any]) -> bool:
    properties = node.get("properties")
    if not isinstance(properties, dict):
        return False
    if any(
        k in node for k in ("additionalProperties", "patternProperties", "unevaluatedProperties")
    ):
        return False
    minimum = node.get("minProperties")
    if isinstance(minimum, int) and minimum > len(properties):
        return False
    return set(node.get("required") or []) <= set(properties)


def _composed_nodes(schema: dict[str, Any]) -> set[int]:
    """ids of every node whose instance other subschemas also constrain."""
    kept: set[int] = set()
    stack: list[Any] = []
    for _, node in subschemas(schema):
        parts, groups = _parts(node, str), _alternative_groups(node)
        if len(parts) > 1 or (parts and groups) or len(groups) > 1:
            stack.append(node)
        if isinstance(node.get("oneOf"), list):  # closed, branches could look disjoint
            stack.extend(node["oneOf"])
    resolve = _resolver(schema)
    while stack:
        node = stack.pop()
        if not isinstance(node, dict) or id(node) in kept:
            continue
        kept.add(id(node))
        stack.extend(_parts(node, resolve))
        stack.extend(branch for group in _alternative_groups(node) for branch in group)
    return kept


def _parts(node: dict[str, Any], resolve: Callable[[str], Any]) -> list[Any]:
    """The subschemas applied to the whole instance `node` applies to (its conjuncts), `node`
    itself first when it has object keywords of its own."""
    parts: list[Any] = [node] if any(key in node for key in _OBJECT_KEYS) else []
    if isinstance(node.get("$ref"), str):
        parts.append(resolve(node["$ref"]))
    if isinstance(node.get("allOf"), list):
        parts.extend(node["allOf"])
    parts.extend(node[key] for key in ("if", "then", "else") if isinstance(node.get(key), dict))
    for key in ("dependentSchemas", "dependencies"):
        if isinstance(node.get(key), dict):
            parts.extend(v for v in node[key].values() if isinstance(v, dict))
    return parts


def _alternative_groups(node: dict[str, Any]) -> list[list[Any]]:
    return [node[key] for key in ("anyOf", "oneOf") if isinstance(node.get(key), list)]


def _resolver(root: dict[str, Any]) -> Callable[[str], Any]:
    """Resolve document-local JSON-pointer `$ref`s (a document with nested `$id`s, whose
    pointers are relative to those resources, is not followed)."""
    nested_ids = any("$id" in node for where, node in subschemas(root) if where)

    def resolve(ref: str) -> Any:
        if nested_ids or not ref.startswith("#"):
            raise _Unresolved(ref)
        try:
            return resolve_pointer(root, unquote(ref[1:]))
        except KeyError:
            raise _Unresolved(ref) from None

    return resolve
