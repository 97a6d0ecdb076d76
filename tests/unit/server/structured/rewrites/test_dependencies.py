"""`dependentRequired`, `dependentSchemas` and draft-7 `dependencies` as `anyOf` expansions
(server/structured/rewrites/dependencies.py)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from server.errors import InvalidRequest
from server.structured import StructuredService
from server.structured.rewrites import dependencies
from tests.unit.server.structured.rewrites.exactness import (
    accepts,
    assert_category,
    check_samples,
    refused,
)
from tests.unit.server.structured.rewrites.language import mismatches
from tests.unit.server.structured.test_policy import schema_body

DRAFT7 = "http://json-schema.org/draft-07/schema#"


@pytest.mark.parametrize(("name", "passed"), [("dependentRequired", 20), ("dependentSchemas", 20)])
def test_suite_categories_token_level(name: str, passed: int) -> None:
    # measured: 20/20 each (main: 6 and 10, every group refused)
    assert_category(name, passed)


def rewritten(schema: dict[str, Any]) -> Any:
    return dependencies.apply(copy.deepcopy(schema))


def test_required_dependency_is_absent_or_present_with_its_dependents() -> None:
    out = rewritten({"dependentRequired": {"a": ["b"]}})
    absent = {"properties": {"a": False}, "additionalProperties": True}
    assert out == {"anyOf": [absent, {"required": ["a", "b"]}, {"required": ["b", "a"]}]}
    texts = ('{"a":1}', '{"a":1,"b":2}', '{"b":2,"a":1}', '{"b":2}', "{}", "[1]")
    assert accepts({"dependentRequired": {"a": ["b"]}}, *texts) == [
        False, True, True, True, True, True,
    ]  # fmt: skip


EXACT = [
    {"dependentRequired": {"a": ["b"]}},
    {"dependentRequired": {"a": ["b", "kind"], "b": [], "x": ["x"]}},
    {"dependentRequired": {"a": ["b"], "b": ["a"]}},
    {"dependentSchemas": {"a": {"properties": {"b": {"type": "integer"}}}, "x": False}},
    {"dependentSchemas": {"kind": {"required": ["x"]}, "a": True}},
    {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
     "dependentRequired": {"a": ["b"]}, "dependentSchemas": {"b": {"required": ["a"]}}},
    {"$schema": DRAFT7, "dependencies": {"a": ["b"], "kind": {"required": ["x"]}}},
    {"$schema": DRAFT7, "dependentRequired": {"a": ["b"]}},  # not a draft-7 keyword
    {"dependencies": {"a": ["b"]}},  # not a 2020-12 keyword
    {"dependentSchemas": {"a": {"not": {"required": ["b"]}}}},  # negation runs later
    {"additionalProperties": False, "properties": {"a": {}},
     "dependentSchemas": {"a": {"properties": {"b": {"type": "string"}}}}},
    {"additionalProperties": {"type": "integer"}, "dependentRequired": {"a": ["b"]}},
]  # fmt: skip


@pytest.mark.parametrize("schema", EXACT)
def test_rewrite_is_exact(schema: dict[str, Any]) -> None:
    out = rewritten(schema)
    assert not {"dependentRequired", "dependentSchemas", "dependencies"} & set(out)
    assert mismatches(schema) == []


@pytest.mark.parametrize("schema", [s for s in EXACT if "$schema" not in s])
def test_samples_of_the_grammar_are_valid(schema: dict[str, Any]) -> None:
    check_samples(schema, count=20)


def test_several_dependencies_keep_other_pointers(service: StructuredService) -> None:
    schema = {
        "anyOf": [{"type": "object"}, {"type": "null"}],
        "dependentRequired": {"a": ["b"], "c": ["d"]},
        "properties": {"a": {"not": {"pattern": "^x"}}},
    }
    out = rewritten(schema)
    assert out["anyOf"] == schema["anyOf"]
    assert len(out["allOf"]) == 2  # one conjunct per dependency, after any existing allOf
    with pytest.raises(InvalidRequest, match=r"enforce: not at /properties/a/not$"):
        service.plan(schema_body(schema, strict=True))


def test_kept_when_a_ref_points_into_it() -> None:
    schema = {"dependentSchemas": {"a": {"required": ["b"]}}, "$ref": "#/dependentSchemas/a"}
    assert rewritten(schema) == schema
    assert refused(schema)


def test_kept_when_copying_would_duplicate_an_id() -> None:
    schema = {"dependentSchemas": {"a": {"$id": "http://example.com/a", "required": ["b"]}}}
    assert rewritten(schema) == schema


def test_a_dependent_keyword_left_unenforced_keeps_its_pointer(service: StructuredService) -> None:
    schema = {"dependentSchemas": {"a": {"properties": {"b": {"not": {"pattern": "x"}}}}}}
    assert rewritten(schema) == schema
    with pytest.raises(InvalidRequest, match=r"not at /dependentSchemas/a/properties/b/not$"):
        service.plan(schema_body(schema, strict=True))
