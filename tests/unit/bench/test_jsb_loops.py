"""Truncation causes of JSONSchemaBench outputs."""

from __future__ import annotations

import pytest

from bench.jsb_loops import breakdown, classify, repeated_tail


@pytest.mark.parametrize(
    ("text", "cause"),
    [
        ('{"a":"x' + "\\n" * 20, "whitespace_run"),
        ('{"a":"x' + "\\u001f" * 10, "whitespace_run"),
        ('{"a":"x' + "\\u001f" * 10 + "\\u0", "whitespace_run"),
        ('{"a":"' + "1234567890" * 5, "string_repeat"),
        ('{"a":[' + '{"type":"file","v":"master"},' * 4 + '{"type":"fi', "item_repeat"),
        ('{"a":"The customer asked whether the invoice was', "long_string"),
        ('{"a":[1,2,3,4,5,6,7,8,9,10,11,12,"ab', "array_long"),
        ('{"n":1' + "0" * 40, "long_number"),
        ('{"a":["x","x","x","x",', "item_repeat"),
        ('{"a":[1,2,3,4,5,', "array_long"),
        ('{"m":{"type":{},"type":{},"type":{},"ty', "item_repeat"),
        ('{"type":' * 12, "nesting_repeat"),
        ('{"a":{"b":', "other"),
    ],
)
def test_classify(text: str, cause: str) -> None:
    assert classify(text) == cause


def test_repeated_tail_ignores_blank_units() -> None:
    assert repeated_tail("ab" * 4) == "ab"
    assert repeated_tail("x" + "\\n" * 6) is None


def test_breakdown_counts_only_truncated_accepted_records() -> None:
    records = [
        {
            "subset": "S",
            "declared": True,
            "valid": False,
            "finish_reason": "length",
            "text": '{"n":1' + "0" * 30,
        },
        {
            "subset": "S",
            "declared": True,
            "valid": False,
            "finish_reason": None,
            "error": "generation timeout",
            "text": '{"a":"' + "ab" * 20,
        },
        {"subset": "S", "declared": True, "valid": True, "finish_reason": "stop", "text": "{}"},
        {"subset": "S", "declared": False, "valid": False, "finish_reason": None, "text": ""},
    ]
    assert breakdown(records) == {"S": {"long_number": 1, "string_repeat": 1}}
