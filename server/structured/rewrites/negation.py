"""`not` rewritten as the positive complement of its subschema, built only from keywords the
backend enforces: `type` (the other types), `const`/`enum` (the other values of each type:
numbers as open intervals, strings as a pattern, arrays/objects position by position),
`required` (a property absent), bounds and lengths (the opposite bound), `properties`, `allOf`,
`anyOf`, `not`, boolean schemas. A subschema with any other assertion keyword (`pattern`,
`multipleOf`, `items`, `$ref`, `format`, ...) or with `type: integer` but not `number` (a
non-integer number has no positive form) keeps its `not`, for the policy to refuse or report.
"""

from __future__ import annotations

import copy
import itertools
import math
from collections.abc import Callable
from typing import Any

from server.structured.rewrites import common

TYPES = ("null", "boolean", "object", "array", "number", "string")
_SAFE_NUMBER = 2**53  # beyond it the backend's bounds and the validator's doubles disagree
_MAX_PATTERN = 4096
_BOUND_COMPLEMENT = {
    "minimum": "exclusiveMaximum",
    "maximum": "exclusiveMinimum",
    "exclusiveMinimum": "maximum",
    "exclusiveMaximum": "minimum",
}
_COUNT_COMPLEMENT = {  # keyword -> (type, opposite keyword, offset)
    "minLength": ("string", "maxLength", -1),
    "maxLength": ("string", "minLength", 1),
    "minItems": ("array", "maxItems", -1),
    "maxItems": ("array", "minItems", 1),
    "minProperties": ("object", "maxProperties", -1),
    "maxProperties": ("object", "minProperties", 1),
}


def apply(schema: Any) -> Any:
    """Rewrite `schema` (a private copy: may be changed in place); returns the result."""
    for node, keywords, fragments in common.rewritable_nodes(schema):
        if not common.detachable(node, "not", fragments):
            continue
        negated = complement(node["not"], keywords)
        if negated is not None:
            common.detach(node, "not")
            common.conjoin(node, negated)
    return schema


def complement(schema: Any, keywords: frozenset[str]) -> Any | None:
    """A schema accepting exactly the instances `schema` rejects, without `not`.

    Args:
        schema: a subschema (dict or boolean).
        keywords: the assertion keywords of the document's draft (`draft_keywords`).

    Returns:
        The complement, or None when it has no exact positive form.
    """
    if isinstance(schema, bool):
        return not schema
    if not isinstance(schema, dict) or any(
        isinstance(schema.get(k), bool) for k in ("exclusiveMinimum", "exclusiveMaximum")
    ):  # draft 4's boolean exclusive bounds modify their sibling
        return None
    branches = []
    for key, value in schema.items():
        if key not in keywords:
            continue  # an annotation in this draft
        handler = _HANDLERS.get(key)
        branch = handler(value, keywords) if handler else _count_or_bound(key, value)
        if branch is None:
            return None
        branches.append(branch)
    return common.disjunction(branches)


def values_complement(values: list[Any], keywords: frozenset[str]) -> Any | None:
    """A schema accepting exactly the JSON values not equal to any of `values` (None: no exact
    form, e.g. numbers beyond 2**53)."""
    by_type: dict[str, list[Any]] = {name: [] for name in TYPES}
    for value in values:
        by_type[json_type(value)].append(value)
    absent = [name for name in TYPES if not by_type[name]]
    branches: list[Any] = [{"type": absent if len(absent) > 1 else absent[0]}] if absent else []
    for name in TYPES:
        if by_type[name]:
            typed = _TYPED[name](by_type[name], keywords)
            if typed is None:
                return None
            branches.extend(typed)
    return common.disjunction(branches)


def json_type(value: Any) -> str:
    """The JSON type name of a Python JSON value ("number" for integers too)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _type(value: Any, keywords: frozenset[str]) -> Any | None:
    named = {value} if isinstance(value, str) else set(value)
    if "integer" in named and "number" not in named:
        return None  # "a number with a fraction" has no positive form
    rest = [name for name in TYPES if name not in named]
    if not rest:
        return False
    return {"type": rest if len(rest) > 1 else rest[0]}


def _const(value: Any, keywords: frozenset[str]) -> Any | None:
    return values_complement([value], keywords)


def _enum(value: Any, keywords: frozenset[str]) -> Any | None:
    return values_complement(list(value), keywords)


def _required(value: Any, keywords: frozenset[str]) -> Any:
    return common.disjunction([common.property_is(name, False, typed=True) for name in value])


def _properties(value: Any, keywords: frozenset[str]) -> Any | None:
    branches = []
    for name, sub in value.items():
        negated = complement(sub, keywords)
        if negated is None:
            return None
        if negated is not False:
            branches.append(common.property_is(name, negated, typed=True))
    return common.disjunction(branches)


def _all_of(value: Any, keywords: frozenset[str]) -> Any | None:
    parts = [complement(sub, keywords) for sub in value]
    return None if any(p is None for p in parts) else common.disjunction(parts)


def _any_of(value: Any, keywords: frozenset[str]) -> Any | None:
    parts = [complement(sub, keywords) for sub in value]
    return None if any(p is None for p in parts) else common.conjunction(parts)


def _not(value: Any, keywords: frozenset[str]) -> Any | None:
    if not common.fully_enforceable(value, None, apply):
        return None  # a keyword left in the copy would be reported there
    return copy.deepcopy(value)


def _count_or_bound(key: str, value: Any) -> Any | None:
    if key in _BOUND_COMPLEMENT and _safe_number(value):
        return {"type": "number", _BOUND_COMPLEMENT[key]: value}
    if key in _COUNT_COMPLEMENT and isinstance(value, int | float) and value == int(value):
        kind, opposite, offset = _COUNT_COMPLEMENT[key]
        bound = int(value) + offset
        if opposite == "minProperties" and bound > 1:
            return None  # the backend counts a repeated key twice, the validator once
        return False if bound < 0 else {"type": kind, opposite: bound}
    return None


def _safe_number(value: Any) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and abs(value) <= _SAFE_NUMBER
    )


def _no_other(values: list[Any], keywords: frozenset[str]) -> list[Any]:
    return []


def _booleans(values: list[Any], keywords: frozenset[str]) -> list[Any]:
    return [{"const": flag} for flag in (False, True) if flag not in values]


def _numbers(values: list[Any], keywords: frozenset[str]) -> list[Any] | None:
    if not all(_safe_number(v) for v in values):
        return None
    points = sorted(set(values))
    gaps: list[Any] = [{"type": "number", "exclusiveMaximum": points[0]}]
    for low, high in itertools.pairwise(points):
        if _inexact_gap(low, high):
            return None
        gaps.append({"type": "number", "exclusiveMinimum": low, "exclusiveMaximum": high})
    gaps.append({"type": "number", "exclusiveMinimum": points[-1]})
    return gaps


def _inexact_gap(low: float, high: float) -> bool:
    """llguidance 1.7.6 lets `(1, 1.5)`, `(-1.5, -1)`, `(0, 0.5)` match their integer bound: an
    open interval with exactly one integer bound and no integer inside (measured on a grid)."""
    inside = math.floor(low) + 1 < high
    return not inside and (float(low).is_integer() != float(high).is_integer())


def _strings(values: list[Any], keywords: frozenset[str]) -> list[Any] | None:
    pattern = "^" + common.not_in_pattern(set(values)) + "$"
    return None if len(pattern) > _MAX_PATTERN else [{"type": "string", "pattern": pattern}]


def _arrays(values: list[Any], keywords: frozenset[str]) -> list[Any] | None:
    return _each_differs([_array_differs(v, keywords) for v in values], "array")


def _objects(values: list[Any], keywords: frozenset[str]) -> list[Any] | None:
    return _each_differs([_object_differs(v, keywords) for v in values], "object")


def _each_differs(per_value: list[list[Any] | None], kind: str) -> list[Any] | None:
    if any(branches is None for branches in per_value):
        return None
    parts = [common.disjunction(branches or []) for branches in per_value]
    return [parts[0]] if len(parts) == 1 else [{"type": kind, "allOf": parts}]


def _array_differs(value: list[Any], keywords: frozenset[str]) -> list[Any] | None:
    size = len(value)
    branches: list[Any] = [{"type": "array", "minItems": size + 1}]
    if size:
        branches.append({"type": "array", "maxItems": size - 1})
    prefix = "prefixItems" if "prefixItems" in keywords else "items"
    for index, item in enumerate(value):
        other = values_complement([item], keywords)
        if other is None:
            return None
        tuple_ = [True] * index + [other]
        branches.append({"type": "array", "minItems": index + 1, prefix: tuple_})
    return branches


def _object_differs(value: dict[str, Any], keywords: frozenset[str]) -> list[Any] | None:
    extra = {"type": "object", "required": list(value), "properties": dict.fromkeys(value, True)}
    # `required` names come once each, so `minProperties` counts a further, distinct key
    branches: list[Any] = [{**extra, "minProperties": len(value) + 1, "additionalProperties": True}]
    for name, item in value.items():
        other = values_complement([item], keywords)
        if other is None:
            return None
        branches.append(common.property_is(name, False, typed=True))
        branches.append(common.property_is(name, other, typed=True))
    return branches


_HANDLERS: dict[str, Callable[[Any, frozenset[str]], Any | None]] = {
    "type": _type,
    "const": _const,
    "enum": _enum,
    "required": _required,
    "properties": _properties,
    "allOf": _all_of,
    "anyOf": _any_of,
    "not": _not,
}
_TYPED: dict[str, Callable[[list[Any], frozenset[str]], list[Any] | None]] = {
    "null": _no_other,
    "boolean": _booleans,
    "number": _numbers,
    "string": _strings,
    "array": _arrays,
    "object": _objects,
}
