"""`uniqueItems: true` over small finite item domains, as an enumeration of the distinct arrays.

When every item schema (`prefixItems` entries, `items`) admits a finite set of values (`enum`,
`const`, `type` boolean/null, filtered by the item schema's other keywords) and the length is
bounded (`maxItems`, `items: false`, or the number of distinct values), every array the node's
array keywords accept is listed (`enum`, checked with the validator itself, so JSON equality is
the spec's: 1 == 1.0, true != 1, key order ignored) under MAX_ARRAYS. Non-array instances keep
their types through an `anyOf`. `uniqueItems: false` is a no-op and is dropped. Otherwise the
keyword is left in place (refused under strict).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from jsonschema import Draft202012Validator

from server.structured.rewrites.property_names import in_dialect, local_refs, touched
from server.structured.walk import subschemas

MAX_ARRAYS = 256
"""Most arrays one enumeration may list."""
MAX_CANDIDATES = 10_000
"""Most candidate arrays generated (before filtering) in one document, all nodes together."""


@dataclass
class Budget:
    """Work one rewrite step may still do on one document (here: candidate values and arrays
    validated), so that a pathological schema costs a bounded time and is left unrewritten."""

    left: int = MAX_CANDIDATES

    def spend(self) -> bool:
        """Count one candidate; False once the budget is exhausted."""
        self.left -= 1
        return self.left >= 0


ARRAY_KEYWORDS = ("prefixItems", "items", "minItems", "maxItems", "uniqueItems", "contains",
                  "minContains", "maxContains")  # fmt: skip
_OTHER_TYPES = ["null", "boolean", "object", "number", "string"]
# keys the local validator cannot judge like the gateway's (references, asserted formats)
_REFERENCING = frozenset({"$ref", "$dynamicRef", "$id", "$anchor", "$dynamicAnchor", "format"})


def apply(schema: Any) -> Any:
    """Rewrite `schema` (a private copy: may be changed in place); returns the result."""
    nodes = list(subschemas(schema))
    refs, budget = local_refs(nodes), Budget()
    current = in_dialect(schema)  # `prefixItems`/`items` as in 2020-12
    if any("unevaluatedItems" in node for _, node in nodes):
        refs.append("@anchor")  # `contains` evaluates items: removing it would change that
    for pointer, node in nodes:
        if node.get("uniqueItems") is False:
            del node["uniqueItems"]
        elif (
            node.get("uniqueItems") is True
            and current
            and not touched(refs, pointer, ("contains",))
        ):
            enumerate_arrays(node, budget)
    return schema


def enumerate_arrays(node: dict[str, Any], budget: Budget) -> bool:
    """Replace the node's array keywords by the list of arrays they accept, when finite and small.

    Args:
        node: a subschema (changed in place on success).
        budget: the document's remaining candidate budget (spent by this call).

    Returns:
        Whether the node was rewritten (`uniqueItems`, `contains`, `minContains`,
        `maxContains` removed; `prefixItems`/`items`/lengths kept: the listed arrays satisfy them).
    """
    if "enum" in node or "const" in node or _refers(node):
        return False
    arrays = _accepted_arrays(node, budget)
    if arrays is None:
        return False
    types = node.get("type")
    allowed = [types] if isinstance(types, str) else list(types or [*_OTHER_TYPES, "array"])
    others = [t for t in allowed if t not in ("array", "integer")]
    if "integer" in allowed and "number" not in allowed:
        others.append("integer")
    if not others:
        if not arrays:
            return False
        node["enum"] = arrays
    elif arrays and "anyOf" in node:
        return False
    elif arrays:
        node["anyOf"] = [{"type": others}, {"enum": arrays}]
    else:
        node["type"] = others
    for key in ("uniqueItems", "contains", "minContains", "maxContains"):
        node.pop(key, None)
    return True


def _refers(node: dict[str, Any]) -> bool:
    """Whether any array keyword's subschemas use references (kept out of the local validator)."""
    return any(
        _REFERENCING & set(sub)
        for key in ARRAY_KEYWORDS
        if key in node
        for _, sub in subschemas(node[key])
    )


def _accepted_arrays(node: dict[str, Any], budget: Budget) -> list[Any] | None:
    """Every array the node's array keywords accept, or None when infinite or too many."""
    prefix = node.get("prefixItems", [])
    items = node.get("items", True)
    if not isinstance(prefix, list) or isinstance(items, list):
        return None
    rest = _domain(items, budget)
    longest = _max_len(node, prefix, rest)
    if longest is None or (longest > len(prefix) and rest is None):
        return None
    domains = [_domain(s, budget) for s in prefix[:longest]]
    if any(d is None for d in domains):
        return None
    check = Draft202012Validator({k: node[k] for k in ARRAY_KEYWORDS if k in node})
    low = int(node.get("minItems", 0))
    found: list[Any] = []
    for length in range(low, longest + 1):
        slots = [domains[i] if i < len(prefix) else rest for i in range(length)]
        for values in itertools.product(*slots):  # type: ignore[arg-type]
            if not budget.spend():
                return None
            if check.is_valid(list(values)):
                found.append(list(values))
                if len(found) > MAX_ARRAYS:
                    return None
    return found


def _max_len(node: dict[str, Any], prefix: list[Any], rest: list[Any] | None) -> int | None:
    """The longest array the node can accept: `maxItems`, the end of a closed tuple, or (unique
    items) the number of distinct values."""
    bounds = []
    if "maxItems" in node:
        bounds.append(int(node["maxItems"]))
    if rest == []:
        bounds.append(len(prefix))
    if node.get("uniqueItems") is True and rest is not None:
        bounds.append(len(prefix) + len(rest))
    return min(bounds) if bounds else None


def _domain(schema: Any, budget: Budget) -> list[Any] | None:
    """The finite list of values `schema` accepts (distinct by JSON equality), None if infinite."""
    if schema is False:
        return []
    if not isinstance(schema, dict):
        return None
    if "const" in schema:
        candidates = [schema["const"]]
    elif "enum" in schema and isinstance(schema["enum"], list):
        candidates = list(schema["enum"])
    else:
        types = schema.get("type")
        types = [types] if isinstance(types, str) else types
        if not types or set(types) - {"boolean", "null"}:
            return None
        candidates = [v for t in types for v in ((False, True) if t == "boolean" else (None,))]
    check = Draft202012Validator(schema)
    distinct: dict[Any, Any] = {}
    for value in candidates:
        if not budget.spend():
            return None
        if check.is_valid(value):
            distinct.setdefault(json_key(value), value)
    return list(distinct.values())


def json_key(value: Any) -> Any:
    """A hashable key equal for JSON-equal values (1 == 1.0, true != 1, key order ignored)."""
    if isinstance(value, bool) or value is None:
        return ("literal", value)
    if isinstance(value, int | float):
        return ("number", value)
    if isinstance(value, list):
        return ("array", tuple(json_key(v) for v in value))
    if isinstance(value, dict):
        return ("object", frozenset((k, json_key(v)) for k, v in value.items()))
    return ("string", value)
