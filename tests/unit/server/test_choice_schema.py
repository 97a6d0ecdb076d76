"""`x-choice-set` inside JSON schemas: expanded to the set's items as `enum` (forwarded and
validated), limits raised by exactly what the expansion added, malformed uses refused."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from server.choice_schema import expand, uses_choice_sets
from server.errors import InvalidRequest, NotFound
from server.structured.schema import StructuredLimits

SETS = {"parts": [f"P-{i}" for i in range(5000)], "tiny": ["a", "b"]}


def _items_of(name: str, param: str) -> list[str]:
    if name not in SETS:
        raise NotFound(f"no choice set named {name!r}", param=param)
    return list(SETS[name])


def _body(schema: dict[str, Any], where: str = "response_format") -> dict[str, Any]:
    if where == "response_format":
        return {"response_format": {"type": "json_schema", "json_schema": {"schema": schema}}}
    return {"structured_outputs": {"json": schema}}


SCHEMA = {
    "type": "object",
    "properties": {
        "part": {"type": "string", "x-choice-set": "parts"},
        "alt": {"$ref": "#/$defs/letter"},
        "x-choice-set": {"type": "integer"},  # a property of that name: not the keyword
        "note": {"type": "string", "default": {"x-choice-set": "tiny"}},  # an instance
    },
    "$defs": {"letter": {"x-choice-set": "tiny"}},
}


@pytest.mark.parametrize("where", ["response_format", "structured_outputs"])
def test_expands_every_use_and_raises_limits_by_what_it_added(where: str) -> None:
    body = _body(copy.deepcopy(SCHEMA), where)
    assert uses_choice_sets(body)
    base = StructuredLimits()
    limits = expand(body, _items_of, base, max_items=10_000)
    schema = (
        body["response_format"]["json_schema"]["schema"]
        if where == "response_format"
        else body["structured_outputs"]["json"]
    )
    assert schema["properties"]["part"] == {"type": "string", "enum": SETS["parts"]}
    assert schema["$defs"]["letter"] == {"type": "string", "enum": ["a", "b"]}
    assert schema["properties"]["x-choice-set"] == {"type": "integer"}
    assert schema["properties"]["note"]["default"] == {"x-choice-set": "tiny"}
    assert not uses_choice_sets(body)
    assert limits.max_enum_values == 5000
    assert limits.max_schema_bytes > base.max_schema_bytes + 5000 * 8


def test_no_use_changes_nothing() -> None:
    body = _body({"type": "object", "properties": {"x-choice-set": {"type": "string"}}})
    assert not uses_choice_sets(body)
    assert expand(body, _items_of, StructuredLimits(), 10) == StructuredLimits()


@pytest.mark.parametrize(
    ("node", "error"),
    [
        ({"x-choice-set": "missing"}, NotFound),
        ({"x-choice-set": 3}, InvalidRequest),
        ({"x-choice-set": "tiny", "enum": ["a"]}, InvalidRequest),
        ({"x-choice-set": "tiny", "type": "integer"}, InvalidRequest),
        ({"x-choice-set": "parts"}, InvalidRequest),  # over max_items
    ],
)
def test_bad_uses(node: dict[str, Any], error: type[Exception]) -> None:
    body = _body({"type": "object", "properties": {"p": node}})
    with pytest.raises(error) as caught:
        expand(body, _items_of, StructuredLimits(), max_items=1000)
    assert getattr(caught.value, "param", None) == "response_format.json_schema.schema"
