"""The lazy pattern search: shortest ends under JSON Schema's reading of `pattern`, checked
against Python's `re` (a search, anchored only by ^/$), on patterns whose DFA is costly."""

from __future__ import annotations

import re

import pytest

from budget_close.regex_search import compile_search, shortest_end
from budget_close.strings import PRINTABLE as ALPHABET


@pytest.mark.parametrize(
    ("pattern", "written", "low", "high", "end"),
    [
        ("^[a-z][a-z0-9-]{3,30}$", "", 0, None, "aaaa"),  # its DFA took interegular > 1 s
        ("^[2-9]([0-9]{9})$", "5", 0, None, "111111111"),
        ("png$", "x", 0, None, "png"),  # unanchored start: anything before
        ("^ab", "ab", 0, None, ""),  # unanchored end: anything after a match
        ("^ab", "abzz", 0, None, ""),
        ("^(?:\\S+\\s+){0,199}\\S+$", "", 0, None, "a"),
        ("a+", "", 3, None, "aaa"),  # minLength with the match
        ("^[a-c]{2}$", "", 0, 1, None),  # maxLength below any match
        ("^(?=a)a$", "", 0, None, None),  # a lookahead: not followed
        ("^(x|yy)-\\d$", "y", 0, None, "y-1"),
    ],
)
def test_shortest_ends(
    pattern: str, written: str, low: int, high: int | None, end: str | None
) -> None:
    search = compile_search(pattern)
    found = None if search is None else shortest_end(search, written, low, high, ALPHABET)
    assert found == end
    if end is not None:
        assert re.search(pattern, written + end)


def test_a_costly_pattern_ends_within_the_search_budget() -> None:
    uri = (
        "([A-Za-z][A-Za-z0-9+\\-.]*):(?:(//)(?:((?:[A-Za-z0-9\\-._~!$&'()*+,;=:]"
        "|%[0-9A-Fa-f]{2})*)@)?)"
    )
    search = compile_search(uri)
    assert search is not None
    end = shortest_end(search, "", 0, None, ALPHABET)
    assert end is not None and re.search(uri, end)


def test_state_sets_resumed_from_recent_texts_equal_a_walk_from_the_start() -> None:
    search = compile_search(r"^[a-z]+(-[a-z]+)*$")
    assert search is not None
    text = "abc-def-gh" * 20
    walked, seen = search.begin(), []
    for char in text:  # a text growing a few characters at a time, as an output does
        walked = search._step(walked, char)  # uncached
        seen.append(walked)
    for end in range(1, len(text) + 1, 3):
        assert search.after(text[:end]) == seen[end - 1]
    assert search.after(text + "!") == frozenset()  # "!" leaves the pattern
    assert shortest_end(search, text + "-", 0, None, "ab") == "a"
