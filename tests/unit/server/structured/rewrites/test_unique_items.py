"""uniqueItems over small finite item domains as an enumeration (server/structured/rewrites)."""

from __future__ import annotations

import copy
import json
import time
from typing import Any

import jsonschema
import pytest

from server.structured.rewrites import unique_items
from tests.unit.server.structured.rewrites.exactness import (
    accepts,
    assert_category,
    check_samples,
    refused,
)


def test_suite_category_token_level() -> None:
    # measured 48/69 (main: 19); the misses are `uniqueItems: true` over unbounded items (refused)
    assert_category("uniqueItems", 48)


def rewritten(schema: dict[str, Any]) -> dict[str, Any]:
    return unique_items.apply(copy.deepcopy(schema))  # type: ignore[no-any-return]


def test_json_equality_decides_distinct_values() -> None:
    values = [1, 1.0, True, "a", {"k": 1, "j": 2}, {"j": 2, "k": 1}]
    schema = {"type": "array", "items": {"enum": values}, "uniqueItems": True}
    out = rewritten(schema)
    assert "uniqueItems" not in out
    # 4 distinct values (1 == 1.0, true != 1, key order ignored): 1 + 4 + 12 + 24 + 24 arrays
    assert len(out["enum"]) == 65
    check = jsonschema.Draft202012Validator(schema)
    assert all(check.is_valid(array) for array in out["enum"])
    assert accepts(schema, "[1,true]", '[true,"a",1]', "[1,1]", "[true,true]", "[]") == [
        True, True, False, False, True,
    ]  # fmt: skip


def test_other_types_stay_valid_through_an_any_of() -> None:
    schema = {"items": {"type": "boolean"}, "uniqueItems": True}
    out = rewritten(schema)
    assert out["anyOf"][0] == {"type": ["null", "boolean", "object", "number", "string"]}
    texts = ("[true,false]", "[true,true]", '"x"', '{"a":[1,1]}', "1.5", "[false]")
    assert accepts(schema, *texts) == [True, False, True, True, True, True]
    check_samples(schema)


def test_bounded_tuples_and_item_keywords_are_respected() -> None:
    schema = {
        "type": "array",
        "prefixItems": [{"enum": [1, 2, 3], "minimum": 2}],
        "items": {"type": ["boolean", "null"]},
        "minItems": 2,
        "maxItems": 3,
        "uniqueItems": True,
    }
    out = rewritten(schema)
    check = jsonschema.Draft202012Validator(schema)
    assert all(check.is_valid(array) for array in out["enum"])
    assert len(out["enum"]) == 2 * (3 + 6)
    assert accepts(schema, "[2,null]", "[3,true,false]", "[1,null]", "[2,true,true]", "[2]") == [
        True, True, False, False, False,
    ]  # fmt: skip
    drawn = check_samples(schema)
    assert {json.dumps(d) for d in drawn} <= {json.dumps(a) for a in out["enum"]}


def test_false_is_a_no_op_and_dropped() -> None:
    assert rewritten({"uniqueItems": False, "type": "array"}) == {"type": "array"}
    assert accepts({"uniqueItems": False}, "[1,1]") == [True]


@pytest.mark.parametrize(
    "schema",
    [
        {"uniqueItems": True},  # unbounded items
        {"items": {"enum": list(range(10))}, "uniqueItems": True},  # 10! arrays
        {"items": {"$ref": "#/$defs/b"}, "uniqueItems": True, "$defs": {"b": {"type": "boolean"}}},
        {"items": {"enum": ["a@b.c", "x"], "format": "email"}, "uniqueItems": True},
    ],
)
def test_left_in_place_when_not_finite_or_small(schema: dict[str, Any]) -> None:
    assert rewritten(schema)["uniqueItems"] is True
    assert refused(schema)


def test_many_nodes_share_one_enumeration_budget() -> None:
    item = {"type": "array", "items": {"enum": list(range(4))}, "uniqueItems": True}
    schema = {"type": "object", "properties": {f"p{i}": dict(item) for i in range(200)}}
    started = time.perf_counter()
    out = rewritten(schema)
    assert time.perf_counter() - started < 5
    left = [p for p, sub in out["properties"].items() if "uniqueItems" in sub]
    assert 0 < len(left) < 200  # the first ones enumerated, the rest left to the policy
