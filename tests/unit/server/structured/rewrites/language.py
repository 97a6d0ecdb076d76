"""Exactness over a corpus: the policy's grammar accepts a value iff the client's schema (its own
draft) validates it. Values are spelled compactly with raw UTF-8 (the backend generates no
`\\u` escapes for printable characters)."""

from __future__ import annotations

import json
from typing import Any

import jsonschema

from tests.unit.server.structured.rewrites.exactness import backend

CORPUS: list[Any] = [
    None, True, False, 0, 1, -1, 2, 3, 0.5, -2.5, 1.5, 10, 100, "", "a", "ab", "b", "abc", "é",
    "a\nb", "x y", "😀", "é😀", [], [1], [1, 2], ["a"], [1, "a"], [None, True], [[1]], {}, {"a": 1},
    {"a": "x"}, {"b": 1}, {"a": 1, "b": 2}, {"a": None}, {"kind": "a"}, {"kind": "b"},
    {"kind": "a", "x": 1}, {"kind": "b", "y": 1}, {"kind": 1}, {"x": 1}, {"y": 1}, {"a": 2},
    {"b": "x"}, {"a": 1, "b": "x"}, {"c": 1}, {"a": "x", "b": 1},
]  # fmt: skip


def text(value: Any) -> str:
    """The compact spelling the backend generates for `value`."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def mismatches(schema: Any, values: list[Any] | None = None) -> list[tuple[Any, bool]]:
    """(value, valid) for each value the grammar gets wrong; `schema` must be accepted."""
    compiled = backend().compile(schema)
    assert compiled.handle is not None, compiled.error
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    check = cls(schema)
    wrong = []
    for value in CORPUS if values is None else values:
        valid = check.is_valid(value)
        if backend().accepts(compiled, text(value)) != valid:
            wrong.append((value, valid))
    return wrong
