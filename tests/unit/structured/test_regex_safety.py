"""Exponential-backtracking regexes are spotted, ordinary ones are not (regex_safety.py)."""

from __future__ import annotations

import pytest

from server.structured.regex_safety import nested_quantifier

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
