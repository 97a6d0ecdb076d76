"""Short texts that complete a JSON prefix into a document a schema accepts.

From the innermost open value out: the open scalar is ended (a string's `enum` value, pattern or
length owed; a number's missing digit; a literal's letters), each open container gets what it
still owes (a member after a trailing comma, the value after a key, the required members after
the last written key in schema order, the items owed to `minItems`) and is closed. Where the
schema offers alternatives (`anyOf`, `oneOf`, type lists), each combination along the open path
gives a candidate (at most MAX_COMBINATIONS), shortest first; `budget_close.verify` picks the
first that the schema and the grammar both accept.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from budget_close.json_prefix import LITERALS, Container, Expect, JsonPrefix, Scalar
from budget_close.minimal import Minimal, dump, number_fits
from budget_close.schemas import Schema, SchemaWalk
from budget_close.strings import decoded, string_end

MAX_COMBINATIONS = 16


@dataclass
class _Open:
    """A container's state while its closing is written."""

    container: Container
    expect: Expect
    items: int


class Closer:
    """Completions of prefixes of documents for one schema."""

    def __init__(self, schema: Schema) -> None:
        self.walk = SchemaWalk(schema)
        self.minimal = Minimal(self.walk)

    def new_prefix(self) -> JsonPrefix:
        """The state before any output."""
        return JsonPrefix()

    def minimum_document(self) -> str | None:
        """The shortest document the schema accepts (what a budget must at least hold)."""
        return self.minimal.value(self.walk.root)

    def closings(self, prefix: JsonPrefix) -> list[str]:
        """Candidate completions of `prefix`, shortest first (empty: none found)."""
        if prefix.done or (prefix.value_complete() and not prefix.stack):
            return [""]
        if not prefix.started:
            doc = self.minimum_document()
            return [] if doc is None else [doc]
        found = set()
        for chosen in itertools.islice(self._combinations(prefix), MAX_COMBINATIONS):
            text = self._close(prefix, chosen)
            if text is not None:
                found.add(text)
        return sorted(found, key=lambda t: (len(t), t))

    def free_string(self, prefix: JsonPrefix) -> bool:
        """Whether `prefix` is inside a string value whose content no schema along any path
        constrains (no pattern, format, length, enum or const, no escape open): more plain
        characters then leave every closing as it is."""
        scalar = prefix.scalar
        if scalar is None or scalar.kind != "string" or scalar.is_key or scalar.escape:
            return False
        depth = len(prefix.stack)
        combos = itertools.islice(self._combinations(prefix), MAX_COMBINATIONS)
        return all(_unconstrained(chosen[depth]) for chosen in combos)

    # -- which schema each open level follows ----------------------------------------------
    def _combinations(self, prefix: JsonPrefix) -> Iterator[tuple[Schema, ...]]:
        """Per open level (each container, then the open scalar), one alternative of its
        schema; every consistent choice along the path, depth first."""
        kinds = ["object" if c.is_object else "array" for c in prefix.stack]
        if prefix.scalar is not None and not prefix.scalar.is_key:
            kinds.append(prefix.scalar.kind)
        yield from self._paths(prefix, kinds, 0, self.walk.root)

    def _paths(
        self, prefix: JsonPrefix, kinds: list[str], depth: int, node: Schema
    ) -> Iterator[tuple[Schema, ...]]:
        if depth == len(kinds):
            yield ()
            return
        for alternative in self.walk.alternatives(node):
            if not _may_be(alternative, kinds[depth]):
                continue
            child: Schema = True
            if depth < len(prefix.stack):
                child = self._slot_schema(prefix.stack[depth], alternative)
            for rest in self._paths(prefix, kinds, depth + 1, child):
                yield (alternative, *rest)

    def _slot_schema(self, container: Container, node: Schema) -> Schema:
        if container.is_object:
            return self.walk.member(node, container.keys[-1]) if container.keys else True
        return self.walk.item(node, container.items)

    # -- writing one candidate ---------------------------------------------------------------
    def _close(self, prefix: JsonPrefix, chosen: tuple[Schema, ...]) -> str | None:
        parts: list[str] = []
        depth = len(prefix.stack)
        scalar = prefix.scalar
        closed_child = False
        if scalar is not None and not scalar.is_key:
            end = self._end_scalar(scalar, chosen[depth])
            if end is None:
                return None
            parts.append(end)
            closed_child = True
        for level in range(depth - 1, -1, -1):
            container = prefix.stack[level]
            state = _Open(container, container.expect, container.items)
            if closed_child:
                state.expect = Expect.COMMA_OR_END
                state.items += 0 if container.is_object else 1
            key = scalar if level == depth - 1 and scalar is not None and scalar.is_key else None
            text = self._finish(state, chosen[level], key)
            if text is None:
                return None
            parts.append(text)
            closed_child = True
        return "".join(parts)

    def _finish(self, state: _Open, node: Schema, key: Scalar | None) -> str | None:
        if not isinstance(node, dict):
            node = {} if node is True else {"not": {}}
        if state.container.is_object:
            return self._finish_object(state, node, key)
        return self._finish_array(state, node)

    def _finish_object(self, state: _Open, node: dict[str, Any], key: Scalar | None) -> str | None:
        keys = list(state.container.keys)
        text = ""
        if key is not None:
            member = self._end_key(node, keys, key.raw)
            if member is None:
                return None
            name, text = member
            keys.append(name)
        elif state.expect in (Expect.COLON, Expect.VALUE):
            value = self.minimal.value(self.walk.member(node, keys[-1]))
            if value is None:
                return None
            text = (":" if state.expect is Expect.COLON else "") + value
        elif state.expect is Expect.KEY:
            member = self._end_key(node, keys, "")
            if member is None:
                return None
            name, rest = member
            keys.append(name)
            text = '"' + rest
        owed = self.minimal.owed_members(node, keys, 0)
        if owed is None:
            return None
        lead = "," if owed and (keys or key is not None) else ""
        return text + lead + ",".join(owed) + "}"

    def _end_key(self, node: dict[str, Any], keys: list[str], raw: str) -> tuple[str, str] | None:
        """The key to end (or write) after `raw` and the text from there through its value:
        a listed property that may come next in schema order, or an extra key when allowed."""
        names = list((node.get("properties") or {}).keys())
        after = max((names.index(k) + 1 for k in keys if k in names), default=0)
        required = set(node.get("required", []))
        options: list[tuple[str, str]] = []
        for name in names[after:]:
            quoted = dump(name)[1:]
            if name not in keys and quoted.startswith(raw):
                value = self.minimal.value(self.walk.member(node, name))
                if value is not None:
                    options.append((name, quoted[len(raw) :] + ":" + value))
            if name in required and name not in keys:
                break  # a required property cannot be skipped
        else:
            name = decoded(raw)
            extra = None if name is None else self.walk.member(node, name)
            value = None if extra is None or name in names else self.minimal.value(extra)
            if name is not None and value is not None:
                options.append((name, '":' + value))
        return min(options, key=lambda o: len(o[1]), default=None)

    def _finish_array(self, state: _Open, node: dict[str, Any]) -> str | None:
        text = ""
        items = state.items
        if state.expect is Expect.VALUE:
            value = self.minimal.value(self.walk.item(node, items))
            if value is None:
                return None
            text, items = value, items + 1
        owed = self.minimal.owed_items(node, items, 0)
        if owed is None:
            return None
        lead = "," if owed and items else ""
        return text + lead + ",".join(owed) + "]"

    # -- the open scalar -----------------------------------------------------------------------
    def _end_scalar(self, scalar: Scalar, node: Schema) -> str | None:
        if scalar.kind == "literal":
            return next(
                (lit[len(scalar.raw) :] for lit in LITERALS if lit.startswith(scalar.raw)), None
            )
        if not isinstance(node, dict):
            node = {}
        if scalar.kind == "number":
            return _end_number(scalar.raw, node)
        return _end_string(scalar, node)


STRING_CONTENT = ("const", "enum", "pattern", "format", "minLength", "maxLength")


def _unconstrained(node: Schema) -> bool:
    """Whether a string under `node` may hold any content."""
    return node is True or (isinstance(node, dict) and not any(k in node for k in STRING_CONTENT))


def _end_string(scalar: Scalar, node: dict[str, Any]) -> str | None:
    escape = ""
    if scalar.escape:
        escape = "\\" if scalar.escape == "\\" else "0" * (6 - len(scalar.escape))
    raw = scalar.raw + scalar.escape + escape
    values = [node["const"]] if "const" in node else node.get("enum")
    if values is not None:
        quoted = [dump(v) for v in values if isinstance(v, str)]
        ends = [q[1 + len(raw) :] for q in quoted if q[1:].startswith(raw)]
        return escape + min(ends, key=len) if ends else None
    written = decoded(raw)
    end = None if written is None else string_end(node, written)
    return None if end is None else escape + end + '"'


def _end_number(raw: str, node: dict[str, Any]) -> str | None:
    end = "0" if raw[-1] in "-+.eE" else ""
    try:
        value = float(raw + end)
    except ValueError:
        return None
    values = [node["const"]] if "const" in node else node.get("enum")
    if values is not None:
        return end if value in [v for v in values if isinstance(v, int | float)] else None
    return end if number_fits(value, node) else None


_TYPES_OF_KIND = {
    "object": {"object"},
    "array": {"array"},
    "string": {"string"},
    "number": {"integer", "number"},
    "literal": {"boolean", "null"},
}
_KIND_OF_VALUE = {
    dict: "object", list: "array", str: "string", int: "number", float: "number",
    bool: "literal", type(None): "literal",
}  # fmt: skip


def _may_be(node: Schema, kind: str) -> bool:
    """Whether a value of `kind` ("object", "array", "string", "number", "literal") can match
    the alternative `node` (judged by `type`, `const` and `enum` only)."""
    if not isinstance(node, dict):
        return node is True
    declared = node.get("type")
    if isinstance(declared, str) and declared not in _TYPES_OF_KIND[kind]:
        return False
    values = [node["const"]] if "const" in node else node.get("enum")
    if values is not None:
        return any(_KIND_OF_VALUE.get(type(v)) == kind for v in values)
    return True
