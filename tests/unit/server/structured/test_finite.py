"""Schemas without any finite instance are refused before they reach the engine."""

from __future__ import annotations

from typing import Any

import pytest

from server.errors import InvalidRequest
from server.structured.finite import check_finite
from server.structured.plan import plan_request


def _node(required: bool) -> dict[str, Any]:
    node: dict[str, Any] = {"type": "object", "properties": {"next": {"$ref": "#/$defs/n"}}}
    if required:
        node["required"] = ["next"]
    return {"$defs": {"n": node}, "$ref": "#/$defs/n"}


NO_FINITE_INSTANCE = {
    "required self-reference": _node(required=True),
    "root reference": {"type": "object", "properties": {"a": {"$ref": "#"}}, "required": ["a"]},
    "array of itself, minItems 1": {"type": "array", "items": {"$ref": "#"}, "minItems": 1},
    "every anyOf branch recurses": {
        "anyOf": [
            {"type": "object", "properties": {"a": {"$ref": "#"}}, "required": ["a"]},
            {"type": "array", "prefixItems": [{"$ref": "#"}], "minItems": 1},
        ]
    },
    "required but forbidden": {
        "type": "object",
        "required": ["x"],
        "additionalProperties": False,
    },
}

FINITE = {
    "optional self-reference": _node(required=False),
    "recursion with a null branch": {
        "type": "object",
        "properties": {"next": {"anyOf": [{"$ref": "#"}, {"type": "null"}]}},
        "required": ["next"],
    },
    "nullable type": {"type": ["object", "null"], "properties": {"a": {"$ref": "#"}}},
    "array of itself, may be empty": {"type": "array", "items": {"$ref": "#"}},
    "required via patternProperties": {
        "type": "object",
        "patternProperties": {"^line[1-3]$": {"type": "string"}},
        "required": ["line1"],
        "additionalProperties": False,
    },
    "tuple items (draft 7)": {"type": "array", "items": [{"type": "string"}], "minItems": 1},
    "reference by anchor (not modelled: allowed)": {
        "$defs": {"n": {"$anchor": "n", "type": "object", "required": ["a"]}},
        "$ref": "#n",
    },
}


@pytest.mark.parametrize("schema", NO_FINITE_INSTANCE.values(), ids=NO_FINITE_INSTANCE)
def test_no_finite_instance_is_refused(schema: dict[str, Any]) -> None:
    with pytest.raises(InvalidRequest, match="no finite JSON document") as info:
        check_finite(schema, param="response_format.json_schema.schema")
    assert info.value.param == "response_format.json_schema.schema"


@pytest.mark.parametrize("schema", FINITE.values(), ids=FINITE)
def test_finite_schemas_pass(schema: dict[str, Any]) -> None:
    check_finite(schema, param="p")


def test_plan_refuses_before_compiling() -> None:
    body = {
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "t", "schema": _node(required=True), "strict": False},
        }
    }
    with pytest.raises(InvalidRequest, match="no finite JSON document"):
        plan_request(body)
