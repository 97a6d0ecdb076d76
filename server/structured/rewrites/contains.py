"""`contains`/`minContains`/`maxContains` where expressible with `minItems`/`maxItems`,
`prefixItems` and `anyOf`, exactly:

- `minContains`/`maxContains` without `contains` are ignored by the spec: dropped;
- `contains: true` counts every item: `minItems`/`maxItems`;
- `contains: false` counts none: with `minContains: 0` a no-op, otherwise no array is valid;
- `minContains: 0` without `maxContains`: a no-op;
- finite item domains and bounded length: the accepted arrays are listed (see `unique_items`);
- otherwise, bounded length (`maxItems` or a closed tuple: n) and no `maxContains`: an `anyOf`
  over the position sets of size `minContains` (at most MAX_BRANCHES), each a `prefixItems` with
  the `contains` schema at those positions: an array has `minContains` matching items iff one
  such set matches.
Anything else is left in place (refused under strict).
"""

from __future__ import annotations

import copy
import itertools
import math
from typing import Any

from server.structured.rewrites.property_names import in_dialect, local_refs, touched
from server.structured.rewrites.unique_items import Budget, enumerate_arrays
from server.structured.walk import subschemas

MAX_BRANCHES = 64
"""Most `anyOf` branches (position sets) one `contains` may expand into."""

_ANNOTATIONS = frozenset({"$comment", "title", "description", "examples", "default"})
_ALL_TYPES = ["null", "boolean", "object", "array", "number", "string"]


def apply(schema: Any) -> Any:
    """Rewrite `schema` (a private copy: may be changed in place); returns the result."""
    if not in_dialect(schema):
        return schema  # `prefixItems`, `minContains` as in 2020-12 only
    nodes = list(subschemas(schema))
    refs, budget = local_refs(nodes), Budget()
    if any("unevaluatedItems" in node for _, node in nodes):
        refs.append("@anchor")  # `contains` evaluates items: rewriting it would change that
    for pointer, node in nodes:
        if "contains" in node:
            if not touched(refs, pointer, ("contains",)):
                _rewrite(node, budget)
        else:  # ignored without `contains`
            node.pop("minContains", None)
            node.pop("maxContains", None)
    return schema


def _drop(node: dict[str, Any]) -> None:
    for key in ("contains", "minContains", "maxContains"):
        node.pop(key, None)


def _rewrite(node: dict[str, Any], budget: Budget) -> None:
    low, high = int(node.get("minContains", 1)), node.get("maxContains")
    if "minContains" in node:
        node["minContains"] = low  # 2.0 -> 2
    if high is not None:
        high = node["maxContains"] = int(high)
    contained = node["contains"]
    if contained is True or (isinstance(contained, dict) and not set(contained) - _ANNOTATIONS):
        node["minItems"] = max(int(node.get("minItems", 0)), low)
        if high is not None:
            node["maxItems"] = min(int(node.get("maxItems", high)), high)
        _drop(node)
    elif contained is False:
        if low == 0 or _forbid_arrays(node):
            _drop(node)
    elif low == 0 and high is None:
        _drop(node)
    elif not enumerate_arrays(node, budget) and high is None:
        _expand_positions(node, low)


def _forbid_arrays(node: dict[str, Any]) -> bool:
    """Restrict the node to non-array types; False when it allows arrays only."""
    types = node.get("type", _ALL_TYPES)
    types = [types] if isinstance(types, str) else list(types)
    others = [t for t in types if t != "array"]
    if not others:
        return False
    node["type"] = others
    return True


def _expand_positions(node: dict[str, Any], low: int) -> None:
    bounds = [int(node["maxItems"])] if "maxItems" in node else []
    if node.get("items", True) is False and isinstance(node.get("prefixItems", []), list):
        bounds.append(len(node.get("prefixItems", [])))  # a closed tuple
    if not bounds or "anyOf" in node or low < 1:
        return
    length = min(bounds)
    if low > length:
        return  # no array qualifies; left for the backend to refuse rather than `false`
    if math.comb(length, low) > MAX_BRANCHES:
        return
    contained = node["contains"]
    branches = []
    for chosen in itertools.combinations(range(length), low):
        last = chosen[-1] + 1
        prefix = [copy.deepcopy(contained) if i in chosen else True for i in range(last)]
        branches.append({"prefixItems": prefix, "minItems": last})
    node["anyOf"] = branches
    _drop(node)
