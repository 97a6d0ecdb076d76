"""propertyNames as key constraints the backend enforces (server/structured/rewrites)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from server.structured.rewrites import property_names
from tests.unit.server.structured.rewrites.exactness import (
    accepts,
    assert_category,
    check_samples,
    refused,
)


@pytest.mark.parametrize(("name", "passed"), [("propertyNames", 20), ("additionalProperties", 20)])
def test_suite_categories_token_level(name: str, passed: int) -> None:
    # measured: propertyNames 20/20 (main: 5, every group refused but `true`); additionalProperties
    # 20/21 (the miss is the backend's non-ASCII regex, not a rewrite)
    assert_category(name, passed)


def rewritten(schema: dict[str, Any]) -> dict[str, Any]:
    return property_names.apply(copy.deepcopy(schema))  # type: ignore[no-any-return]


def test_enum_names_become_properties_with_the_additional_schema() -> None:
    schema = {
        "type": "object",
        "properties": {"a": {"type": "integer"}, "c": {"type": "string"}},
        "additionalProperties": {"type": "string"},
        "propertyNames": {"enum": ["a", "b", 3]},
    }
    out = rewritten(schema)
    assert "propertyNames" not in out
    assert out["properties"] == {"a": {"type": "integer"}, "c": False, "b": {"type": "string"}}
    assert out["additionalProperties"] is False
    assert accepts(schema, '{"a":1,"b":"x"}', '{"b":"x"}', '{"c":"x"}', '{"b":1}', '{"d":"x"}') == [
        True, True, False, False, False,
    ]  # fmt: skip
    check_samples(schema)


def test_length_names_become_a_key_regex_counting_code_points() -> None:
    schema = {
        "propertyNames": {"minLength": 2, "maxLength": 3},
        "additionalProperties": {"type": "integer"},
    }
    assert rewritten(schema)["patternProperties"] == {"^[\\s\\S]{2,3}$": {"type": "integer"}}
    texts = ('{"ab":1}', '{"éé\\n":1}', '{"a":1}', '{"abcd":1}', '{"ab":"x"}', '"str"', "[1]")
    assert accepts(schema, *texts) == [True, True, False, False, False, True, True]
    check_samples(schema)


def test_a_pattern_is_matched_unanchored_like_the_keyword() -> None:
    schema = {
        "type": "object",
        "properties": {"xa": {}, "yy": {}},
        "propertyNames": {"pattern": "a"},
    }
    out = rewritten(schema)
    assert out["properties"] == {"xa": {}, "yy": False}
    assert out["patternProperties"] == {"a": True}
    assert accepts(schema, '{"xa":1}', '{"bab":2}', '{"yy":1}', '{"b":1}') == [
        True,
        True,
        False,
        False,
    ]
    check_samples(schema)


@pytest.mark.parametrize("names", [False, {"type": "integer"}])
def test_no_name_allowed_means_no_property(names: Any) -> None:
    schema = {"properties": {"a": {}}, "patternProperties": {"b": {}}, "propertyNames": names}
    out = rewritten(schema)
    assert out["properties"] == {"a": False} and out["patternProperties"] == {"b": False}
    assert accepts(schema, "{}", '{"a":1}', '{"b":1}', "1") == [True, False, False, True]
    assert rewritten({"propertyNames": names})["maxProperties"] == 0


@pytest.mark.parametrize(
    "schema",
    [
        {"propertyNames": {"pattern": "^a", "maxLength": 3}},  # no regex intersection
        {"patternProperties": {"^b": {}}, "propertyNames": {"pattern": "^a"}},
        {"properties": {"aa": {}}, "additionalProperties": {"type": "integer"},
         "propertyNames": {"pattern": "^a"}},  # the regex's schema would reach `aa`
        {"propertyNames": {"format": "email"}},
        {"properties": {"b": {"$ref": "#/properties/a"}, "a": {}}, "propertyNames": {"const": "a"}},
    ],
)  # fmt: skip
def test_left_in_place_when_not_exact(schema: dict[str, Any]) -> None:
    assert "propertyNames" in rewritten(schema)
    assert refused(schema)


def test_kept_property_with_additional_true_keeps_its_schema() -> None:
    schema = {
        "type": "object",
        "properties": {"ab": {"type": "integer"}},
        "required": ["ab"],
        "propertyNames": {"maxLength": 2},
    }
    assert accepts(schema, '{"ab":1}', '{"ab":"x"}', '{"ab":1,"c":null}', '{"ab":1,"abc":1}') == [
        True, False, True, False,
    ]  # fmt: skip
    check_samples(schema)


@pytest.mark.parametrize("names", [{"const": "a"}, {"maxLength": 1}])
def test_a_required_name_the_constraint_forbids_is_left_to_the_validator(names: Any) -> None:
    schema = {"properties": {"long": {}}, "required": ["long"], "propertyNames": names}
    assert "propertyNames" in rewritten(schema)


def test_held_back_while_unevaluated_properties_could_see_new_keys() -> None:
    schema = {"allOf": [{"propertyNames": {"const": "a"}}], "unevaluatedProperties": False}
    assert "propertyNames" in rewritten(schema)["allOf"][0]
    # the unevaluated step closes the root first, then runs this step again
    assert accepts(schema, "{}", '{"a":1}', '{"b":1}') == [True, False, False]
