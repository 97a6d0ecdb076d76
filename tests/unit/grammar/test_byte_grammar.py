"""`grammar.llg.ByteGrammar`: compiled once, each check on a copy, the same answers as a fresh
matcher (`match`), and `stops_after` exactly where llguidance's matcher stops."""

from __future__ import annotations

from typing import Any

import pytest

from grammar.llg import ByteGrammar, byte_tokenizer, match

OBJECT = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}


@pytest.mark.parametrize(
    ("kind", "spec", "texts"),
    [
        ("json", OBJECT, ['{"a":1}', '{"a":', '{"a":"x"}', '{"a":12}', "", '{"a":1} ']),
        ("json", {"type": "integer"}, ["5", "-", "-0", "55", "x"]),
        ("regex", "ab+c", ["abc", "abbbc", "ab", "abcd"]),
    ],
)
def test_matches_agrees_with_a_fresh_matcher(kind: str, spec: Any, texts: list[str]) -> None:
    grammar = ByteGrammar(kind, spec)
    for _ in range(2):  # the second pass proves the checks left the pristine matcher as it was
        for text in texts:
            assert grammar.matches(text) == (match(byte_tokenizer(), kind, spec, text)[0] is True)


def test_stops_after_a_closed_document_not_after_digits() -> None:
    assert ByteGrammar("json", OBJECT).stops_after('{"a":1}')
    assert not ByteGrammar("json", OBJECT).stops_after('{"a":1')
    integer = ByteGrammar("json", {"type": "integer"})
    assert integer.stops_after("0") and integer.stops_after("-0")  # nothing may follow a 0
    assert not integer.stops_after("5")  # "55" may
