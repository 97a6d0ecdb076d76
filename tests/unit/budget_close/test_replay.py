"""Reading a closing's start back from a closed document (what the verdict's `closing_tokens`
counts): exact on a known schema, and never later than the true start (within the window) on
real-world schemas."""

from __future__ import annotations

import random
from typing import Any

import pytest

from budget_close.closer import Closer
from budget_close.json_prefix import JsonPrefix
from budget_close.replay import WINDOW, closing_start
from budget_close.verify import Judge, best_closing
from grammar.llg import matches
from tests.unit.budget_close.conftest import compiling
from tests.unit.budget_close.test_closer import _TOKENIZER, OBJECT, _random_prefix


def _judge(schema: Any) -> Judge:
    return Judge(schema, lambda d: matches(_TOKENIZER, "json", schema, d))


def _closed(closer: Closer, judge: Judge, text: str) -> str | None:
    prefix = JsonPrefix()
    prefix.feed(text)
    closing = best_closing(closer, judge, text, prefix)
    return None if closing is None else text + closing


@pytest.mark.parametrize(
    "text",
    [
        '{"id":12',
        '{"id":5,"tags":["a',
        '{"id":5,"tags":["p","q"],"kind":"b',
        '{"id":5,"tags":["p","q"],"kind":"al","code":"QZ-7","when":"2024-0',
    ],
)
def test_the_start_of_a_closing_is_read_back(text: str) -> None:
    closer, judge = Closer(OBJECT), _judge(OBJECT)
    document = _closed(closer, judge, text)
    assert document is not None and judge.accepts(document)
    assert closing_start(closer, judge, document) == len(text)


def test_what_the_model_wrote_as_the_shortest_ending_counts_as_closing() -> None:
    """The date's last digit "1" is also the shortest end of "2024-01-0": the longest tail
    that is a closing starts there."""
    closer, judge = Closer(OBJECT), _judge(OBJECT)
    document = '{"id":5,"tags":["p","q"],"kind":"al","code":"QZ-7","when":"2024-01-01"}'
    start = closing_start(closer, judge, document)
    assert start is not None and document[start:] == '1"}'
    assert closing_start(closer, judge, document, time_limit_s=0) is None  # out of time


def test_real_schemas_never_read_a_later_start(dev_cases: list[Any]) -> None:
    rng = random.Random(1)
    tried = exact = 0
    for case, grammar in compiling(dev_cases[::2], _TOKENIZER):
        closer, judge = Closer(case.schema), _judge(case.schema)
        for _ in range(2):
            text = _random_prefix(grammar, rng, rng.randint(1, 150))
            assert text is not None
            document = _closed(closer, judge, text)
            if document is None or document == text:
                continue
            start = closing_start(closer, judge, document, time_limit_s=30)
            tried += 1
            earliest = max(len(text), len(document) - WINDOW)  # the window's start, at least
            assert start is not None and start <= earliest, (case.name, text, document)
            exact += start == len(text)
    print(f"\nclosing start read back exactly in {exact}/{tried}")
    assert tried >= 60 and exact / tried >= 0.6, (exact, tried)
