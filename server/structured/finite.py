"""Does a schema admit any finite JSON document? Refuse the ones that cannot.

A schema such as `{"$defs": {"n": {"type": "object", "properties": {"next": {"$ref":
"#/$defs/n"}}, "required": ["next"]}}, "$ref": "#/$defs/n"}` has no finite instance: every
`next` needs another `next`. A grammar built from it forces `{"next":` forever, which the decoding
backend only stops with an internal error mid-generation. We find such schemas first.

The check is a least fixpoint over the document's subschemas: a subschema "can finish" when some
finite instance of it exists, judged only from the keywords that force content (`type`,
`required`, `minItems`, `prefixItems`, `$ref`, `allOf` / `anyOf` / `oneOf`). It errs towards
"can finish": anything it does not model (references by anchor or `$id`, `if`/`then`, `not`,
schemas without `type`) counts as finishable, so it never refuses a schema that has an instance.
"""

from __future__ import annotations

from typing import Any

from server.errors import InvalidRequest
from server.structured.walk import subschemas

_PRIMITIVES = {"string", "number", "integer", "boolean", "null"}


class _Doc:
    """The subschemas of one document by JSON pointer, and the current fixpoint estimate."""

    def __init__(self, schema: Any) -> None:
        self.root = schema
        self.by_pointer: dict[str, Any] = {"": schema}
        self.by_pointer.update(dict(subschemas(schema)))
        self.finishes: set[int] = set()  # id() of subschemas known to have a finite instance

    def target(self, ref: str) -> Any | None:
        """The subschema a local JSON-pointer `$ref` names; None when not modelled."""
        if ref == "#":
            return self.root
        if not ref.startswith("#/"):
            return None
        return self.by_pointer.get(ref[1:])

    def can(self, node: Any) -> bool:
        """Whether `node` has a finite instance, given the current estimate."""
        if isinstance(node, bool):
            return node
        if not isinstance(node, dict):
            return True
        return id(node) in self.finishes

    def step(self, node: Any) -> bool:
        """One evaluation of `node` against the current estimate (see the module docstring)."""
        if not isinstance(node, dict):
            return self.can(node)
        ref = node.get("$ref")
        if isinstance(ref, str):
            target = self.target(ref)
            if target is not None and not self.can(target):
                return False
        if not all(self.can(s) for s in node.get("allOf", [])):
            return False
        for key in ("anyOf", "oneOf"):
            options = node.get(key)
            if isinstance(options, list) and options and not any(self.can(s) for s in options):
                return False
        return self._own_type_finishes(node)

    def _own_type_finishes(self, node: dict[str, Any]) -> bool:
        if "enum" in node or "const" in node:
            return True
        types = node.get("type")
        if types is None:
            return True
        types = {types} if isinstance(types, str) else set(types)
        if types & _PRIMITIVES:
            return True
        if "object" in types and self._object_finishes(node):
            return True
        return "array" in types and self._array_finishes(node)

    def _object_finishes(self, node: dict[str, Any]) -> bool:
        properties = node.get("properties", {})
        for name in node.get("required", []):
            if isinstance(properties, dict) and name in properties:
                if not self.can(properties[name]):
                    return False
            elif node.get("additionalProperties") is False and not node.get("patternProperties"):
                return False  # required but not allowed
        return True

    def _array_finishes(self, node: dict[str, Any]) -> bool:
        need = node.get("minItems", 0)
        prefix = node.get("prefixItems", [])
        items = node.get("items", True)
        if isinstance(items, list):  # drafts 4-7: tuple form
            prefix, items = items, node.get("additionalItems", True)
        for i in range(need if isinstance(need, int) else 0):
            item = prefix[i] if i < len(prefix) else items
            if not self.can(item):
                return False
            if i >= len(prefix):
                break  # the rest repeat `items`
        return True


def check_finite(schema: Any, *, param: str) -> None:
    """Raise InvalidRequest when `schema` admits no finite JSON document.

    Args:
        schema: a schema whose `$ref`s were already checked to stay inside the document.
        param: the request field holding the schema (named in the error).
    """
    doc = _Doc(schema)
    nodes = [n for n in doc.by_pointer.values() if isinstance(n, dict)]
    changed = True
    while changed:
        changed = False
        for node in nodes:
            if id(node) not in doc.finishes and doc.step(node):
                doc.finishes.add(id(node))
                changed = True
    if not doc.can(schema):
        stuck = [p or "/" for p, n in doc.by_pointer.items() if not doc.can(n)][:5]
        raise InvalidRequest(
            "the schema admits no finite JSON document (every instance would need to contain "
            f"another instance of itself); subschemas without a finite instance: {stuck}",
            param=param,
        )
