"""The shortest JSON text of a value a schema node accepts, written compactly (no whitespace,
objects in the schema's property order, as the engine's grammar writes them).

Candidates are built from the keywords a short value must honour (`const`, `enum`, `type`,
bounds, `required`, `minItems`, `minProperties`, string rules); the shortest wins. Anything the
builder cannot honour (an unsatisfiable bound, `uniqueItems` with several items, recursion deeper
than MAX_DEPTH) gives None for that candidate. The result is a proposal: `budget_close.verify`
decides.
"""

from __future__ import annotations

import json
import math
from typing import Any

from budget_close.schemas import Schema, SchemaWalk
from budget_close.strings import string_end

MAX_DEPTH = 24


def dump(value: Any) -> str:
    """Compact JSON, as the grammar writes it."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class Minimal:
    """Shortest values of one root schema's nodes (memoized per node)."""

    def __init__(self, walk: SchemaWalk) -> None:
        self.walk = walk
        self._memo: dict[int, str | None] = {}
        self._keep: list[Schema] = []  # nodes memoized by id stay alive

    def value(self, node: Schema, depth: int = 0) -> str | None:
        """The shortest JSON text valid for `node`, or None."""
        key = id(node)
        if key in self._memo:
            return self._memo[key]
        if depth > MAX_DEPTH:
            return None  # not memoized: a shallower walk to this node may still end
        best = _shortest(self._shape(alt, depth) for alt in self.walk.alternatives(node))
        if best is not None or depth == 0:
            self._memo[key] = best
            self._keep.append(node)
        return best

    def _shape(self, node: Schema, depth: int) -> str | None:
        if node is True:
            return "0"
        if node is False:
            return None
        assert isinstance(node, dict)
        if "const" in node:
            return dump(node["const"])
        if "enum" in node:
            return _shortest(dump(v) for v in node["enum"]) if node["enum"] else None
        kind = node.get("type") or _implied_type(node)
        if kind == "object":
            return self.object_value(node, depth)
        if kind == "array":
            return self.array_value(node, depth)
        if kind == "string":
            end = string_end(node, "")
            return None if end is None else dump(end)
        if kind in ("integer", "number"):
            return number_value(node, integer=kind == "integer")
        return {"boolean": "true", "null": "null"}.get(str(kind), "0")

    def object_value(self, node: dict[str, Any], depth: int) -> str | None:
        """`{` + the required members (schema order) + members owed to `minProperties` + `}`."""
        members = self.owed_members(node, [], depth)
        return None if members is None else "{" + ",".join(members) + "}"

    def owed_members(
        self, node: dict[str, Any], written: list[str], depth: int
    ) -> list[str] | None:
        """The `"key":value` texts an object that already holds `written` (keys, in order) must
        still get: required keys after the last written one (schema order), required keys the
        schema does not list, then the shortest optional ones up to `minProperties`."""
        properties = list((node.get("properties") or {}).items())
        names = [name for name, _ in properties]
        after = max((names.index(k) + 1 for k in written if k in names), default=0)
        required = [r for r in node.get("required", []) if isinstance(r, str)]
        owed = [name for name in names[after:] if name in required and name not in written]
        owed += [r for r in required if r not in names and r not in written]
        texts = []
        for name in owed:
            value = self.value(self.walk.member(node, name), depth + 1)
            if value is None:
                return None
            texts.append(f"{dump(name)}:{value}")
        missing = int(node.get("minProperties", 0)) - len(written) - len(owed)
        if missing > 0:
            extra = self._optional_members(node, names[after:], set(written) | set(owed), depth)
            if len(extra) < missing:
                return None
            chosen = sorted(extra, key=lambda kv: len(kv[1]))[:missing]
            order = {name: i for i, name in enumerate(names)}
            chosen.sort(key=lambda kv: order.get(kv[0], len(order)))
            texts = _in_order(texts, owed, chosen, order)
        return texts

    def _optional_members(
        self, node: dict[str, Any], names: list[str], taken: set[str], depth: int
    ) -> list[tuple[str, str]]:
        out = []
        for name in names:
            if name not in taken:
                value = self.value(self.walk.member(node, name), depth + 1)
                if value is not None:
                    out.append((name, f"{dump(name)}:{value}"))
        return out

    def array_value(self, node: dict[str, Any], depth: int, start: int = 0) -> str | None:
        """`[` + the items owed to `minItems` + `]`."""
        items = self.owed_items(node, start, depth)
        return None if items is None else "[" + ",".join(items) + "]"

    def owed_items(self, node: dict[str, Any], held: int, depth: int) -> list[str] | None:
        """The item texts an array already holding `held` items must still get."""
        want = int(node.get("minItems", 0))
        if node.get("uniqueItems") and want > 1:
            return None  # several equal shortest items would repeat
        texts = []
        for index in range(held, want):
            value = self.value(self.walk.item(node, index), depth + 1)
            if value is None:
                return None
            texts.append(value)
        return texts


def number_value(node: dict[str, Any], *, integer: bool) -> str | None:
    """The shortest number within the bounds and `multipleOf` (integers only)."""
    low, high = _bounds(node)
    step = node.get("multipleOf")
    candidates = [0.0]
    if low is not None:
        candidates.append(math.ceil(low))
    if high is not None:
        candidates.append(math.floor(high))
    if isinstance(step, int | float) and step > 0:
        base = low if low is not None else 0.0
        candidates.append(math.ceil(base / step) * step)
    texts = [_number_text(c) for c in candidates if _fits(c, node, low, high)]
    return _shortest(texts) if texts or integer else None


def number_fits(value: float, node: dict[str, Any]) -> bool:
    """Whether `value` meets the node's bounds, `multipleOf` and (for "integer") integrality."""
    if node.get("type") == "integer" and not float(value).is_integer():
        return False
    low, high = _bounds(node)
    return _fits(value, node, low, high)


def _number_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(value)


def _bounds(node: dict[str, Any]) -> tuple[float | None, float | None]:
    low, high = node.get("minimum"), node.get("maximum")
    ex_low, ex_high = node.get("exclusiveMinimum"), node.get("exclusiveMaximum")
    if isinstance(ex_low, int | float) and not isinstance(ex_low, bool):
        low = math.floor(ex_low) + 1
    if isinstance(ex_high, int | float) and not isinstance(ex_high, bool):
        high = math.ceil(ex_high) - 1
    if ex_low is True and low is not None:  # draft 4 booleans
        low = math.floor(low) + 1
    if ex_high is True and high is not None:
        high = math.ceil(high) - 1
    return low, high


def _fits(value: float, node: dict[str, Any], low: float | None, high: float | None) -> bool:
    if (low is not None and value < low) or (high is not None and value > high):
        return False
    step = node.get("multipleOf")
    if isinstance(step, int | float) and step > 0:
        return abs(value / step - round(value / step)) < 1e-9
    return True


def _implied_type(node: dict[str, Any]) -> str | None:
    if any(k in node for k in ("properties", "required", "additionalProperties")):
        return "object"
    if any(k in node for k in ("items", "prefixItems", "minItems")):
        return "array"
    if any(k in node for k in ("pattern", "minLength", "maxLength", "format")):
        return "string"
    if any(k in node for k in ("minimum", "maximum", "multipleOf")):
        return "number"
    return None


def _in_order(
    texts: list[str], owed: list[str], chosen: list[tuple[str, str]], order: dict[str, int]
) -> list[str]:
    pairs = list(zip(owed, texts, strict=True)) + chosen
    pairs.sort(key=lambda kv: order.get(kv[0], len(order)))
    return [text for _, text in pairs]


def _shortest(texts: Any) -> str | None:
    best: str | None = None
    for text in texts:
        if text is not None and (best is None or len(text) < len(best)):
            best = text
    return best
