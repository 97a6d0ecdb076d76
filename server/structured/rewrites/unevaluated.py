"""`unevaluatedProperties` / `unevaluatedItems` over statically known evaluations, as
`additionalProperties` / `items` on the same node.

What a node's in-place subschemas evaluate is collected from the node itself, its `allOf`
members and local `$ref` targets (recursively); from `anyOf`/`oneOf`/`if`/`then`/`else`/
`dependentSchemas` only when every branch evaluates the same set (then it does not matter which
one succeeds; the other branch of a dependent schema is its key's absence); from `not` never
(its annotations are dropped). The node then names the evaluated properties itself
(`properties: {name: true}`, `patternProperties: {regex: true}`) and gets
`additionalProperties: <the unevaluatedProperties schema>`; for items, `prefixItems` padded with
`true` to the longest evaluated prefix and `items: <the unevaluatedItems schema>`. Exact: the keys
(indexes) `additionalProperties` (`items`) then covers are exactly the unevaluated ones. When
something evaluates every property (item), the keyword is a no-op and is dropped. Left in place
(refused under strict) for dynamic references, `contains` (items), evaluations that differ between
branches, and more than one key regex (the backend needs disjoint `patternProperties`).
"""

from __future__ import annotations

import contextlib
import copy
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

from server.structured.rewrites import contains, property_names, unique_items
from server.structured.rewrites.property_names import in_dialect, local_refs, touched
from server.structured.rewrites.unique_items import Budget
from server.structured.walk import resolve_pointer, subschemas

_BRANCHING = ("anyOf", "oneOf")
_UNBLOCKED = (property_names.apply, unique_items.apply, contains.apply)
MAX_BRANCHES = 4
"""Most `anyOf`/`oneOf` branches distributed (an `anyOf` of n gives 2^n - 1 closed branches)."""


@dataclass
class Evaluated:
    """What in-place subschemas evaluate: named keys, key regexes, item prefix, or everything."""

    names: set[str] = field(default_factory=set)
    patterns: set[str] = field(default_factory=set)
    prefix: int = 0
    everything: bool = False

    def add(self, other: Evaluated) -> None:
        """Union with another evaluation."""
        self.names |= other.names
        self.patterns |= other.patterns
        self.prefix = max(self.prefix, other.prefix)
        self.everything |= other.everything


@dataclass
class _Doc:
    """The document being rewritten and the work its evaluations may still do."""

    root: Any
    budget: Budget = field(default_factory=Budget)


class _Unknown(Exception):
    """The evaluation depends on which branch succeeds, or on something not modelled."""


def apply(schema: Any) -> Any:
    """Rewrite `schema` (a private copy: may be changed in place); returns the result."""
    if not in_dialect(schema):
        return schema  # unknown keywords (annotations) before 2019-09; 2019-09 tuples differ
    nodes = list(subschemas(schema))
    refs, doc = local_refs(nodes), _Doc(schema)
    for pointer, node in nodes:
        for keyword in ("unevaluatedProperties", "unevaluatedItems"):
            if keyword in node and not touched(refs, pointer, (keyword,)):
                movable = not touched(refs, pointer, ("anyOf",))
                with contextlib.suppress(_Unknown):
                    _rewrite(doc, node, keyword, movable=movable)
    for step in _UNBLOCKED:  # steps that held back while unevaluated* could see their changes
        schema = step(schema)
    return schema


def _rewrite(doc: _Doc, node: dict[str, Any], keyword: str, *, movable: bool) -> None:
    value = node.pop(keyword)
    try:
        seen: Evaluated | None = _evaluated(doc, node, keyword, frozenset())
    except _Unknown:
        seen = None
    node[keyword] = value
    if seen is None:
        if not movable:
            raise _Unknown
        _distribute(doc, node, keyword)
    elif seen.everything:
        del node[keyword]
    elif keyword == "unevaluatedProperties":
        _close_properties(node, seen, value)
    else:
        _close_items(node, seen, value)


def _distribute(doc: _Doc, node: dict[str, Any], keyword: str) -> None:
    """Branches evaluating different sets: one closed `anyOf` branch per set of branches that may
    succeed together (`anyOf`: every non-empty subset; `oneOf`, kept as it is: each branch)."""
    kinds = [k for k in ("anyOf", "oneOf") if k in node]
    if len(kinds) != 1 or len(node[kinds[0]]) > MAX_BRANCHES:
        raise _Unknown
    kind, value = kinds[0], node.pop(keyword)
    options = node.pop(kind)
    try:
        static = _evaluated(doc, node, keyword, frozenset())
        each = [_evaluated(doc, option, keyword, frozenset()) for option in options]
    finally:
        node[keyword], node[kind] = value, options
    indexes = range(len(options))
    if kind == "anyOf":
        groups = [g for n in range(1, len(options) + 1) for g in combinations(indexes, n)]
    else:
        groups = [(i,) for i in indexes]
    branches = []
    for group in groups:
        seen = Evaluated()
        for part in [static, *(each[i] for i in group)]:
            seen.add(part)
        members = [copy.deepcopy(options[i]) for i in group]
        branches.append({"allOf": members, **_closure(seen, keyword, value)})
    node["anyOf"] = branches
    del node[keyword]


def _closure(seen: Evaluated, keyword: str, value: Any) -> dict[str, Any]:
    """Keywords that apply `value` to exactly the keys (items) `seen` does not evaluate."""
    if seen.everything:
        return {}
    if keyword == "unevaluatedItems":
        return {"prefixItems": [True] * seen.prefix, "items": copy.deepcopy(value)}
    if len(seen.patterns) > 1:
        raise _Unknown
    return {
        "properties": dict.fromkeys(sorted(seen.names), True),
        "patternProperties": dict.fromkeys(seen.patterns, True),
        "additionalProperties": copy.deepcopy(value),
    }


def _close_properties(node: dict[str, Any], seen: Evaluated, value: Any) -> None:
    own = node.get("patternProperties", {})
    if len(seen.patterns | set(own)) > 1:
        return
    properties = node.setdefault("properties", {})
    for name in sorted(seen.names - set(properties)):
        properties[name] = True
    if seen.patterns - set(own):
        node["patternProperties"] = {**own, **dict.fromkeys(seen.patterns - set(own), True)}
    node["additionalProperties"] = value
    del node["unevaluatedProperties"]


def _close_items(node: dict[str, Any], seen: Evaluated, value: Any) -> None:
    prefix = node.get("prefixItems", [])
    node["prefixItems"] = prefix + [True] * (seen.prefix - len(prefix))
    if not node["prefixItems"]:
        del node["prefixItems"]
    node["items"] = value
    del node["unevaluatedItems"]


def _evaluated(doc: _Doc, node: Any, keyword: str, refs: frozenset[str]) -> Evaluated:
    """What `node` evaluates in place (raises _Unknown when it depends on the instance)."""
    if not doc.budget.spend():
        raise _Unknown  # a document whose references fan out too much
    seen = Evaluated()
    if not isinstance(node, dict):
        return seen
    if "$dynamicRef" in node or "$recursiveRef" in node:
        raise _Unknown
    seen.add(_own(node, keyword))
    ref = node.get("$ref")
    if isinstance(ref, str):
        if not (ref == "#" or ref.startswith("#/")) or "%" in ref or ref in refs:
            raise _Unknown
        try:
            target = resolve_pointer(doc.root, ref[1:])
        except KeyError:
            raise _Unknown from None
        seen.add(_evaluated(doc, target, keyword, refs | {ref}))
    for sub in node.get("allOf", []):
        seen.add(_evaluated(doc, sub, keyword, refs))
    branches = [node[key] for key in _BRANCHING if key in node]
    for dependent in node.get("dependentSchemas", {}).values():  # applies only if the key is there
        branches.append([dependent, True])
    if "if" in node:
        branches.append([{"allOf": [node["if"], node.get("then", True)]}, node.get("else", True)])
    for options in branches:
        seen.add(_same_for_all(doc, options, keyword, refs))
    return seen


def _own(node: dict[str, Any], keyword: str) -> Evaluated:
    if keyword == "unevaluatedProperties":
        everything = "additionalProperties" in node or "unevaluatedProperties" in node
        return Evaluated(
            names=set(node.get("properties", {})),
            patterns=set(node.get("patternProperties", {})),
            everything=everything,
        )
    if "contains" in node or "additionalItems" in node or isinstance(node.get("items"), list):
        raise _Unknown  # `contains` evaluates the matching items only; drafts 4-7 tuples
    items = node.get("items")
    everything = (items is not None and not isinstance(items, list)) or "unevaluatedItems" in node
    return Evaluated(prefix=len(node.get("prefixItems", [])), everything=everything)


def _same_for_all(doc: _Doc, options: list[Any], keyword: str, refs: frozenset[str]) -> Evaluated:
    """The evaluation of branches of which any may succeed: known only when all agree."""
    found = [_evaluated(doc, option, keyword, refs) for option in options]
    if any(f != found[0] for f in found[1:]):
        raise _Unknown
    return found[0] if found else Evaluated()
