"""Closings of outputs under a `regex` constraint (the whole output must match)."""

from __future__ import annotations

import re

import pytest

from budget_close.json_prefix import PrefixError
from budget_close.regex_closer import RegexCloser


@pytest.mark.parametrize(
    ("pattern", "written", "closing"),
    [
        (r"[a-z ]+\.", "once upon", "."),
        (r"[a-z ]+\.", "", "a."),
        (r"\d{3}-\d{4}", "12", "1-1111"),
        (r"(yes|no)", "n", "o"),
        (r"^ab+c$", "abbb", "c"),  # anchors change nothing under a whole match
        (r'"[^"]*"', '"quoted', '"'),
        (r"a\nb", "a", "\nb"),
    ],
)
def test_shortest_closing(pattern: str, written: str, closing: str) -> None:
    closer = RegexCloser(pattern)
    prefix = closer.new_prefix()
    prefix.feed(written)
    assert closer.closings(prefix) == [closing]
    assert re.fullmatch(pattern.strip("^$"), written + closing)
    done = prefix.copy()
    done.feed(closing)
    assert done.value_complete() and not prefix.value_complete()
    assert closer.closings(done) == [""]


def test_minimum_document_and_refusals() -> None:
    assert RegexCloser(r"\d{3}-\d{4}").minimum_document() == "111-1111"
    closer = RegexCloser(r"[a-z]+")
    prefix = closer.new_prefix()
    with pytest.raises(PrefixError):
        prefix.feed("ab1")  # a digit leaves the pattern
    with pytest.raises(ValueError, match="does not follow"):
        RegexCloser(r"(?=a)a")  # a lookahead
