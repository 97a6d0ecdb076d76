"""Spelling-only normalizations: schemas the backend refused only for their spelling are enforced
under strict; keywords that are not no-ops are left for the policy."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from server.structured import StructuredService
from server.structured.rewrites import normalize


def forwarded(service: StructuredService, schema: Any) -> Any:
    spec = {"name": "t", "schema": schema, "strict": True}
    plan = service.plan({"response_format": {"type": "json_schema", "json_schema": spec}})
    assert plan is not None and plan.strict and plan.unenforced == []
    assert plan.schema is schema  # outputs are validated against the client's schema
    return spec["schema"]


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "array", "maxItems": 2.0, "minItems": 1.0},
        {"type": "string", "maxLength": 3.0, "minLength": 0.0},
        {"type": "object", "maxProperties": 4.0, "minProperties": 1.0},
        {"type": "array", "uniqueItems": False},
        {"then": {"type": "string"}, "else": {"type": "integer"}},
        {"type": "array", "minContains": 2, "maxContains": 3},
        {"propertyNames": True, "dependentRequired": {}, "dependentSchemas": {}},
        {"propertyNames": {}, "dependentRequired": {"a": []}, "dependentSchemas": {"a": True}},
        {"if": {"type": "string"}},
        {"type": "object", "unevaluatedProperties": True, "unevaluatedItems": {}},
        {"$schema": "http://json-schema.org/draft-07/schema#", "dependencies": {"a": []}},
    ],
)
def test_strict_schemas_refused_only_for_their_spelling_are_enforced(
    service: StructuredService, schema: dict[str, Any]
) -> None:
    sent = forwarded(service, schema)
    counts = {key: value for key, value in sent.items() if key in normalize.COUNT_KEYWORDS}
    assert all(type(value) is int for value in counts.values())
    assert set(sent) - {"x-guidance", "additionalProperties", "pattern"} <= set(schema)


def test_a_true_root_is_an_empty_schema(service: StructuredService) -> None:
    sent = forwarded(service, True)
    assert {k: v for k, v in sent.items() if k != "x-guidance"} == {}


def test_the_clients_schema_is_never_changed() -> None:
    schema = {"type": "array", "maxItems": 2.0, "uniqueItems": False, "then": {}}
    before = copy.deepcopy(schema)
    normalize.apply(copy.deepcopy(schema))
    assert schema == before


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "array", "contains": True},  # needs a non-empty array
        {"type": "array", "contains": {}, "minContains": 0},
        {"if": {"type": "string"}, "then": {"minLength": 2}},
        {"uniqueItems": True},
        {"propertyNames": {"maxLength": 3}},
        {"dependentRequired": {"a": ["b"]}},
        {"not": {}},
        # the `true` inside marks every property evaluated for the outer `false`
        {"allOf": [{"unevaluatedProperties": True}], "unevaluatedProperties": False},
        # `if` annotations are observed by unevaluatedProperties
        {"if": {"properties": {"a": True}}, "unevaluatedProperties": False},
        # something refers into the keyword that would be dropped
        {"$ref": "#/then/x", "then": {"x": {"type": "integer"}}},
        {"$ref": "#a", "else": {"$anchor": "a", "type": "integer"}},
    ],
)
def test_keywords_that_are_not_no_ops_are_kept(schema: dict[str, Any]) -> None:
    assert normalize.apply(copy.deepcopy(schema)) == schema


def test_non_integer_counts_and_false_root_are_left_alone() -> None:
    assert normalize.apply(False) is False
    assert normalize.apply({"maxItems": 1e400}) == {"maxItems": 1e400}
