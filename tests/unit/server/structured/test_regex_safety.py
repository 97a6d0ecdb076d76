"""Exponential-backtracking regexes are spotted, ordinary ones are not (regex_safety.py)."""

from __future__ import annotations

import pytest

from server.errors import InvalidRequest
from server.structured.regex_safety import expanded_size, nested_quantifier
from server.structured.schema import StructuredLimits, check_regex

EXPONENTIAL = ["(a+)+$", "(a|aa)*b", "(a|a)*", "^(\\w+\\s?)*$", "(.|a)*x", "(?:ab|abab)+c"]
ORDINARY = [
    "(ab|cde)*",
    "(a|b)*",
    "(\\w|-)*",
    "(?:x|xy)+z",
    "^([a-z]+\\.)*[a-z]+$",
    "(foo|bar|baz)+",
    "(foo|foobar)*",
    "(.|\\n)*",
    "^\\d{3}-\\d{4}$",
    "^[a-z]+(-[a-z]+)*$",
]


@pytest.mark.parametrize("pattern", EXPONENTIAL)
def test_exponential_patterns_flagged(pattern: str) -> None:
    assert nested_quantifier(pattern)


@pytest.mark.parametrize("pattern", ORDINARY)
def test_ordinary_patterns_pass(pattern: str) -> None:
    assert nested_quantifier(pattern) is None


@pytest.mark.parametrize(
    ("pattern", "size"),
    [("abc", 3), ("a{10}", 10), ("(a{1000}){1000}", 10**6), ("(ab|c)+", 6), ("x*", 1)],
)
def test_expanded_size(pattern: str, size: int) -> None:
    assert expanded_size(pattern) == size


def test_regex_expanding_past_the_limit_is_refused() -> None:
    with pytest.raises(InvalidRequest, match="expands to more than 100000"):
        check_regex("(a{1000}){1000}", StructuredLimits(), pointer="regex", param="regex")
    check_regex("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}", StructuredLimits(), pointer="p", param="p")
