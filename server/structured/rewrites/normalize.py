"""Spelling-only normalizations the backend needs: each rewrite leaves the set of valid instances
(and, where another keyword could observe them, the annotations) unchanged.

- integer-valued floats in count keywords (`maxItems: 2.0` -> 2): the metaschema's
  `nonNegativeInteger` accepts 2.0 (JSON has one number type), llguidance refuses floats;
- a `true` root schema -> `{}` (Core §4.3.2: both accept everything); llguidance refuses a
  boolean root;
- keywords whose value makes them no-ops, removed (each rule cites the spec below; other
  rewrite modules own every rewrite that is *not* a no-op, such as `contains`).
A subschema-valued keyword is only removed when nothing can refer into it (no `$id`/`$anchor`
inside it, no `$ref` naming its key).
"""

from __future__ import annotations

from typing import Any

from server.structured.walk import subschemas

COUNT_KEYWORDS = (
    "maxItems", "minItems", "maxLength", "minLength", "maxProperties", "minProperties",
    "minContains", "maxContains",
)  # fmt: skip
"""Keywords whose value is a non-negative integer (Validation §6.2-6.5)."""

_ANCHORS = ("$id", "id", "$anchor", "$dynamicAnchor", "$recursiveAnchor")
_UNEVALUATED = ("unevaluatedProperties", "unevaluatedItems")


def apply(schema: Any) -> Any:
    """Rewrite `schema` (a private copy: changed in place); returns the result."""
    if schema is True:
        return {}
    if not isinstance(schema, dict):
        return schema
    refs = _ref_fragments(schema)
    annotations_unused = _unevaluated_all_trivial(schema)
    for _, node in subschemas(schema):  # a node is changed before its children are visited
        _integer_counts(node)
        _drop_no_ops(node, refs)
        if annotations_unused:
            _drop_annotation_only(node, refs)
    return schema


def _integer_counts(node: dict[str, Any]) -> None:
    for key in COUNT_KEYWORDS:
        value = node.get(key)
        if isinstance(value, float) and value.is_integer():
            node[key] = int(value)


def _drop_no_ops(node: dict[str, Any], refs: list[str]) -> None:
    # Validation §6.4.3: "Omitting this keyword has the same behavior as a value of false."
    if node.get("uniqueItems") is False:
        del node["uniqueItems"]
    # Core §10.2.2.2/§10.2.2.3: then/else have "no effect when `if` is absent" (not even
    # evaluated for annotations).
    if "if" not in node:
        for key in ("then", "else"):
            _drop_subschema(node, key, refs)
    # Validation §6.4.4/§6.4.5: "If `contains` is not present within the same schema object,
    # then this keyword has no effect."
    if "contains" not in node:
        node.pop("minContains", None)
        node.pop("maxContains", None)
    # Core §10.3.2.4: every name validates against `true`; propertyNames makes no annotations.
    if _trivial(node.get("propertyNames")):
        _drop_subschema(node, "propertyNames", refs)
    _drop_empty_dependencies(node, refs)


def _drop_empty_dependencies(node: dict[str, Any], refs: list[str]) -> None:
    # Validation §6.5.4 (dependentRequired), draft-07 §6.5.7 (dependencies): an empty list
    # requires nothing; Core §10.2.2.4 (dependentSchemas): a `true` subschema passes everything.
    for key in ("dependentRequired", "dependentSchemas", "dependencies"):
        value = node.get(key)
        if not isinstance(value, dict) or any(f"/{key}" in ref for ref in refs):
            continue
        for name in [n for n, dep in value.items() if dep == [] or _trivial(dep)]:
            del value[name]
        if not value:
            del node[key]


def _drop_annotation_only(node: dict[str, Any], refs: list[str]) -> None:
    # With no `unevaluated*` keyword left in the document nothing observes annotations, so
    # Core §10.2.2.1 `if` alone ("no direct effect on the overall validation result") and
    # §11.2/§11.3 `unevaluatedItems/Properties: true` (pass every location) are no-ops.
    if "then" not in node and "else" not in node:
        _drop_subschema(node, "if", refs)
    for key in _UNEVALUATED:
        if _trivial(node.get(key)):
            del node[key]


def _drop_subschema(node: dict[str, Any], key: str, refs: list[str]) -> None:
    if key in node and not _referable(node[key]) and not any(f"/{key}" in r for r in refs):
        del node[key]


def _trivial(value: Any) -> bool:
    return value is True or value == {}


def _referable(value: Any) -> bool:
    return any(key in node for _, node in subschemas(value) for key in _ANCHORS)


def _ref_fragments(schema: dict[str, Any]) -> list[str]:
    return [
        node["$ref"].partition("#")[2]
        for _, node in subschemas(schema)
        if isinstance(node.get("$ref"), str)
    ]


def _unevaluated_all_trivial(schema: dict[str, Any]) -> bool:
    return all(
        _trivial(node[key]) for _, node in subschemas(schema) for key in _UNEVALUATED if key in node
    )
