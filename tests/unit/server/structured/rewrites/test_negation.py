"""`not` as the positive complement of its subschema (server/structured/rewrites/negation.py)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from server.errors import InvalidRequest
from server.structured import StructuredService
from server.structured.rewrites import negation, rewrite_schema
from tests.unit.server.structured.rewrites.exactness import (
    accepts,
    assert_category,
    check_samples,
    refused,
)
from tests.unit.server.structured.rewrites.language import mismatches
from tests.unit.server.structured.test_policy import schema_body


def test_suite_category_token_level() -> None:
    # measured 37/40 (main: 24); the misses: `not: {type: integer}` (twice: a number with a
    # fraction has no positive form) and `not` over unevaluatedProperties
    assert_category("not", 37)


def rewritten(schema: dict[str, Any]) -> Any:
    return negation.apply(copy.deepcopy(schema))


EXACT = [
    {"not": {"type": "string"}},
    {"not": {"type": ["number", "object"]}},
    {"not": {"const": "a"}},
    {"not": {"const": 1}},
    {"not": {"const": [1, "a"]}},
    {"not": {"const": {"a": 1}}},
    {"not": {"enum": ["a", "ab", "", 1, None, [1], {"a": 1}]}},
    {"not": {"enum": [1, 2.5, 4, True]}},
    {"not": {"enum": [{"a": 1}, {"b": 1}]}},
    {"not": {"enum": ["a", "b"], "type": "string"}},
    {"not": {"type": "object", "required": ["a", "b"]}},
    {"not": {"properties": {"a": {"type": "number"}, "kind": {"const": "a"}}}},
    {"not": {"minimum": 1}},
    {"not": {"exclusiveMaximum": 2.5}},
    {"not": {"maxLength": 1}},
    {"not": {"minLength": 2}},  # code points, as the validator counts
    {"not": {"type": "array", "maxItems": 1}},
    {"not": {"minProperties": 1}},
    {"not": {"anyOf": [{"type": "string"}, {"const": 1}]}},
    {"not": {"allOf": [{"type": "object"}, {"required": ["a"]}]}},
    {"not": {"not": {"type": "array"}}},
    {"not": {"if": {"const": 1}, "then": False}},  # `if` rewritten first, then negated
    {"properties": {"a": {"not": True}, "b": {"not": False}}},
    {"type": "object", "properties": {"kind": {"enum": ["a", "b"]}}, "not": {"required": ["kind"]}},
    {"additionalProperties": {"type": "integer"}, "not": {"properties": {"a": {"const": 1}}}},
    {"patternProperties": {"^a": {"type": "integer"}}, "not": {"properties": {"a": {"const": 1}}}},
    {
        "$schema": "http://json-schema.org/draft-04/schema#",
        "minimum": 0,
        "exclusiveMinimum": True,
        "not": {"maximum": 1},
    },  # draft 4: the complement's bound stays out of the node
]


@pytest.mark.parametrize("schema", EXACT)
def test_complement_is_exact_and_leaves_no_not(schema: dict[str, Any]) -> None:
    assert "not" not in str(rewrite_schema(schema))
    assert mismatches(schema) == []


@pytest.mark.parametrize("schema", EXACT[:12])
def test_samples_of_the_grammar_are_valid(schema: dict[str, Any]) -> None:
    check_samples(schema, count=20)


def test_string_complement_is_a_trie_pattern_over_code_points() -> None:
    words = ["a", "ab", "", "é", "a\nb", 'q"', "\\", "😀a"]
    schema = {"not": {"enum": words}}
    out = rewritten(schema)
    assert out["anyOf"][0] == {"type": ["null", "boolean", "object", "array", "number"]}
    others = ["b", "abc", "aa", "é\n", "a\n", 'q"x', "\\\\", "x", "\u2028", "😀", "😀ab"]
    assert mismatches(schema, words + others) == []


def test_type_and_shape() -> None:
    assert rewritten({"not": {"type": "string"}}) == {
        "type": ["null", "boolean", "object", "array", "number"]
    }
    assert rewritten({"not": {"type": ["string", "integer", "number"]}}) == {
        "type": ["null", "boolean", "object", "array"]
    }
    assert rewritten({"not": {"required": ["a"]}}) == {
        "allOf": [{"type": "object", "properties": {"a": False}, "additionalProperties": True}]
    }
    assert rewritten({"not": {"const": None}}) == {
        "type": ["boolean", "object", "array", "number", "string"]
    }
    assert rewritten({"not": {"enum": [False, True]}}) == {
        "type": ["null", "object", "array", "number", "string"]
    }


@pytest.mark.parametrize(
    "negated",
    [
        {"type": "integer"},  # a number with a fraction has no positive form
        {"pattern": "^a"},
        {"multipleOf": 2},
        {"items": {"type": "string"}},
        {"$ref": "#/$defs/a"},
        {"format": "email"},
        {"const": 2**60},  # beyond 2**53 the backend's bounds and the validator disagree
        {"enum": [1, 1.5]},  # llguidance 1.7.6 lets the gap (1, 1.5) match 1
        {"maxProperties": 2},  # the backend counts a repeated key twice
        {"type": "array", "uniqueItems": True},
    ],
)
def test_without_exact_complement_not_stays_for_the_policy(negated: dict[str, Any]) -> None:
    schema = {"$defs": {"a": {}}, "not": negated}
    assert rewritten(schema)["not"] == negated
    assert refused(schema)


def test_strict_refusal_names_the_original_pointer(service: StructuredService) -> None:
    schema = {
        "anyOf": [{"type": "object"}, {"type": "array"}],
        "properties": {"a": {"not": {"pattern": "^x"}}, "b": {"not": {"const": "x"}}},
        "not": {"required": ["z"]},
    }
    out = rewrite_schema(schema)
    assert out["anyOf"] == schema["anyOf"]  # the complement goes to the end of allOf
    assert out["allOf"] == rewritten({"not": {"required": ["z"]}})["allOf"]
    body = schema_body(schema, strict=True)
    with pytest.raises(InvalidRequest, match=r"not at /properties/a/not$"):
        service.plan(body)
    plan = service.plan(schema_body(schema, strict=False))
    assert plan is not None
    assert [(u["keyword"], u["pointer"]) for u in plan.unenforced] == [("not", "/properties/a/not")]


def test_not_kept_when_a_ref_points_into_it() -> None:
    schema = {"not": {"$defs": {"s": {"type": "string"}}, "type": "null"}, "$ref": "#/not/$defs/s"}
    assert rewritten(schema)["not"] == schema["not"]


def test_ids_inside_a_removed_not_stay_reachable() -> None:
    schema = {
        "$id": "http://example.com/a.json",
        "properties": {"x": {"not": {"$defs": {"y": {"$id": "y.json", "type": "number"}}}}},
        "$ref": "http://example.com/y.json",
    }
    out = rewritten(schema)
    assert out["properties"]["x"]["allOf"] == [False]
    assert accepts(schema, "1", '"a"', "{}") == [True, False, False]


def test_forbid_everything_is_left_to_the_backend_refusal() -> None:
    assert rewritten({"not": {}}) == {"allOf": [False]}
    assert refused({"not": {}})
    assert accepts({"properties": {"a": {"not": {}}}}, "{}", '{"a":1}') == [True, False]


def test_a_repeated_key_is_no_extra_property() -> None:
    schema = {"not": {"const": {"a": 1}}}
    texts = ('{"a":1,"a":1}', '{"a":1,"b":1,"b":1}', '{"a":1,"b":1}', '{"a":2}', "{}")
    assert accepts(schema, *texts) == [False, True, True, True, True]
    assert accepts({"not": {"maxProperties": 0}}, "{}", '{"a":1,"a":1}') == [False, True]


def test_a_rewrite_the_backend_cannot_compile_falls_back(service: StructuredService) -> None:
    # unsatisfiable once rewritten (the backend refuses it); without the rewrite, a non-strict
    # request is served as before, with `not` reported as not enforced
    schema = {"type": "object", "properties": {"a": {"type": "number"}}, "required": ["a"],
              "not": {"required": ["a"]}}  # fmt: skip
    plan = service.plan(schema_body(schema, strict=False))
    assert plan is not None
    assert [(u["keyword"], u["pointer"]) for u in plan.unenforced] == [("not", "/not")]
    with pytest.raises(InvalidRequest, match="enforce: not at /not"):
        service.plan(schema_body(schema, strict=True))


def test_double_negation_of_an_unenforced_keyword_keeps_its_pointers() -> None:
    schema = {"not": {"not": {"uniqueItems": True}}}
    assert rewritten(schema) == schema
    assert rewritten({"not": {"not": {"pattern": "^a"}}}) == {"pattern": "^a"}
