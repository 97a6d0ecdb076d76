"""The schema walk a completion needs: local `$ref`s followed, compositions spread into their
alternatives, and the subschema of an object member or array item.

Only what is needed to *build* a short valid value is modelled here; whether the value is valid
is decided by a validator afterwards (`budget_close.verify`), so a keyword this walk ignores can
make a candidate fail, never make an invalid document pass.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote

Schema = dict[str, Any] | bool

MAX_ALTERNATIVES = 8  # per node: enough for real anyOf/oneOf/type lists, bounded for the product
MAX_REF_HOPS = 32


class SchemaWalk:
    """Resolution of one root schema's nodes (local `$ref`s only)."""

    def __init__(self, root: Schema) -> None:
        self.root = root

    def resolve(self, node: Schema) -> Schema | None:
        """`node` with its `$ref` chain followed (siblings kept beside the target's keys);
        None for a reference this walk cannot follow (remote, missing, or a cycle)."""
        for _ in range(MAX_REF_HOPS):
            if not isinstance(node, dict) or "$ref" not in node:
                return node
            target = self._pointer(str(node["$ref"]))
            if target is None:
                return None
            siblings = {k: v for k, v in node.items() if k not in ("$ref", "$defs", "definitions")}
            if isinstance(target, bool):
                return target if not siblings or target is False else siblings
            node = _merge(target, siblings) if siblings else target
        return None

    def alternatives(self, node: Schema) -> list[Schema]:
        """The shapes a value of `node` can take: `anyOf`/`oneOf` branches and `type` lists
        spread out (each beside the node's other keywords), `allOf` merged; at most
        MAX_ALTERNATIVES, in the schema's order."""
        return list(_take(self._spread(node, 0), MAX_ALTERNATIVES))

    def _spread(self, node: Schema, depth: int) -> Iterator[Schema]:
        resolved = self.resolve(node)
        if resolved is None or depth > MAX_REF_HOPS:
            return
        if not isinstance(resolved, dict):
            yield resolved
            return
        rest = {k: v for k, v in resolved.items() if k not in ("allOf", "anyOf", "oneOf")}
        for part in resolved.get("allOf", []):
            part = self.resolve(part)
            if isinstance(part, dict):
                rest = _merge(rest, part)
            elif part is False:
                return
        branches = resolved.get("anyOf") or resolved.get("oneOf")
        if branches:
            for branch in branches:
                for alt in self._spread(branch, depth + 1):
                    if isinstance(alt, dict):
                        yield from self._types(_merge(rest, alt))
                    elif alt is True:
                        yield from self._types(rest)
            return
        if any(k in rest for k in ("allOf", "anyOf", "oneOf", "$ref")):
            yield from self._spread(rest, depth + 1)  # merged in from an allOf part
            return
        yield from self._types(rest)

    @staticmethod
    def _types(node: dict[str, Any]) -> Iterator[Schema]:
        types = node.get("type")
        if isinstance(types, list):
            for one in types:
                yield {**node, "type": one}
        else:
            yield node

    def member(self, node: Schema, key: str) -> Schema:
        """The subschema of object member `key` (`properties`, then `patternProperties`, then
        `additionalProperties`)."""
        if not isinstance(node, dict):
            return node
        properties = node.get("properties") or {}
        if key in properties:
            return properties[key]
        for pattern, sub in (node.get("patternProperties") or {}).items():
            try:
                if re.search(pattern, key):
                    return sub
            except re.error:
                continue
        extra = node.get("additionalProperties", True)
        return extra if isinstance(extra, dict | bool) else True

    def item(self, node: Schema, index: int) -> Schema:
        """The subschema of array item `index` (`prefixItems` or a draft-4 `items` list, then
        `items` / `additionalItems`)."""
        if not isinstance(node, dict):
            return node
        prefix = node.get("prefixItems")
        items = node.get("items", True)
        if prefix is None and isinstance(items, list):
            prefix, items = items, node.get("additionalItems", True)
        if prefix is not None and index < len(prefix):
            return prefix[index]
        return items if isinstance(items, dict | bool) else True

    def _pointer(self, ref: str) -> Schema | None:
        if not ref.startswith("#"):
            return None
        node: Any = self.root
        for part in ref[1:].split("/")[1:]:
            part = unquote(part).replace("~1", "/").replace("~0", "~")
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                return None
        return node if isinstance(node, dict | bool) else None


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """Keywords of both; `required` united, `properties` merged (a property both name gets
    both subschemas, as `allOf`), the rest from `extra`."""
    merged = {**base, **extra}
    if "required" in base and "required" in extra:
        merged["required"] = list(dict.fromkeys([*base["required"], *extra["required"]]))
    if "properties" in base and "properties" in extra:
        properties = dict(base["properties"])
        for name, sub in extra["properties"].items():
            mine = properties.get(name)
            both = mine is not None and mine is not sub and isinstance(mine, dict)
            properties[name] = {"allOf": [mine, sub]} if both else sub  # a value meets both
        merged["properties"] = properties
    return merged


def _take(items: Iterator[Schema], n: int) -> Iterator[Schema]:
    for i, item in enumerate(items):
        if i >= n:
            return
        yield item
