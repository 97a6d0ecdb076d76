"""contains/minContains/maxContains where expressible (server/structured/rewrites)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from server.structured.rewrites import contains
from tests.unit.server.structured.rewrites.exactness import (
    accepts,
    assert_category,
    check_samples,
    refused,
)


@pytest.mark.parametrize(
    ("name", "passed"), [("contains", 12), ("minContains", 18), ("maxContains", 8)]
)
def test_suite_categories_token_level(name: str, passed: int) -> None:
    # measured (main: 10, 14, 6); the misses are `contains` over unbounded arrays (refused)
    assert_category(name, passed)


def rewritten(schema: dict[str, Any]) -> dict[str, Any]:
    return contains.apply(copy.deepcopy(schema))  # type: ignore[no-any-return]


def test_true_counts_every_item() -> None:
    schema = {"type": "array", "contains": {}, "minContains": 2.0, "maxContains": 3}
    assert rewritten(schema) == {"type": "array", "minItems": 2, "maxItems": 3}
    assert accepts(schema, "[1]", "[1,2]", "[1,2,3]", "[1,2,3,4]") == [False, True, True, False]


def test_false_rejects_every_array() -> None:
    schema = {"contains": False}
    assert rewritten(schema) == {"type": ["null", "boolean", "object", "number", "string"]}
    assert accepts(schema, "[]", "[1]", '"x"', "null") == [False, False, True, True]
    assert rewritten({"contains": False, "minContains": 0}) == {}


def test_counts_without_contains_are_ignored() -> None:
    assert rewritten({"minContains": 2, "maxContains": 1}) == {}
    assert rewritten({"contains": {"const": 1}, "minContains": 0}) == {}


def test_bounded_arrays_expand_into_position_sets() -> None:
    schema = {"type": "array", "maxItems": 3, "contains": {"const": 1}, "minContains": 2}
    out = rewritten(schema)
    assert len(out["anyOf"]) == 3 and "contains" not in out
    texts = ("[1,1]", "[1,2,1]", "[2,1,1]", "[1,2,2]", "[1]", "[2,2,2]", "[1,1,1]")
    assert accepts(schema, *texts) == [True, True, True, False, False, False, True]
    check_samples(schema)


def test_closed_tuples_bound_the_positions() -> None:
    schema = {"prefixItems": [{"type": "integer"}, {"type": "string"}], "items": False,
              "contains": {"type": "string"}}  # fmt: skip
    assert len(rewritten(schema)["anyOf"]) == 2
    assert accepts(schema, '[1,"a"]', "[1]", "[1,2]", '"x"') == [True, False, False, True]
    check_samples(schema)


def test_finite_domains_enumerate_with_max_contains() -> None:
    schema = {"type": "array", "items": {"enum": [1, 2]}, "maxItems": 3,
              "contains": {"const": 1}, "minContains": 1, "maxContains": 1}  # fmt: skip
    out = rewritten(schema)
    assert "contains" not in out and len(out["enum"]) == 1 + 2 + 3
    assert accepts(schema, "[1]", "[2,1,2]", "[1,1]", "[2,2]", "[]") == [
        True, True, False, False, False,
    ]  # fmt: skip
    check_samples(schema)


@pytest.mark.parametrize(
    "schema",
    [
        {"contains": {"const": 1}},  # unbounded
        {"contains": {"const": 1}, "maxItems": 3, "maxContains": 1},  # needs the complement
        {"contains": {"const": 1}, "maxItems": 12, "minContains": 6},  # 924 position sets
        {"prefixItems": [{"contains": {"const": 1}}], "unevaluatedItems": False},
    ],
)
def test_left_in_place_when_not_expressible(schema: dict[str, Any]) -> None:
    out = rewritten(schema)
    assert "contains" in out or "contains" in out["prefixItems"][0]
    assert refused(schema)
