"""Closings of prefixes: exact shortest ends on small schemas, and on real-world schemas (the
JSONSchemaBench dev split) from random prefixes the engine's grammar allows."""

from __future__ import annotations

import random
from typing import Any

import pytest
from llguidance import LLMatcher

from budget_close.closer import Closer
from budget_close.json_prefix import JsonPrefix
from budget_close.verify import Judge, best_closing
from grammar.llg import byte_tokenizer, matches
from tests.unit.budget_close.conftest import compiling

OBJECT = {
    "type": "object",
    "properties": {
        "id": {"type": "integer", "minimum": 3},
        "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2},
        "kind": {"enum": ["alpha", "beta", "al"]},
        "code": {"type": "string", "pattern": "^[A-Z]{2}-[0-9]+$"},
        "note": {"type": "string"},
        "when": {"type": "string", "format": "date"},
    },
    "required": ["id", "tags", "kind", "code", "when"],
}


def _close(schema: Any, text: str) -> str:
    prefix = JsonPrefix()
    prefix.feed(text)
    return Closer(schema).closings(prefix)[0]


@pytest.mark.parametrize(
    ("text", "closing"),
    [
        ("", '{"id":3,"tags":["",""],"kind":"al","code":"AA-1","when":"1111-11-11"}'),
        ('{"id":12', ',"tags":["",""],"kind":"al","code":"AA-1","when":"1111-11-11"}'),
        ('{"id":-', None),  # no digits after "-" make a number >= 3: no closing
        ('{"id":5,"tags":["a', '",""],"kind":"al","code":"AA-1","when":"1111-11-11"}'),
        ('{"id":5,"tags":["p","q"],"kind":"b', 'eta","code":"AA-1","when":"1111-11-11"}'),
        ('{"id":5,"tags":["p","q"],"kind":"al","code":"Q', 'A-1","when":"1111-11-11"}'),
        ('{"id":5,"tags":["p","q"],"kind":"al","code":"QZ-7","n', 'ote":"","when":"1111-11-11"}'),
        ('{"id":5,"tags":["p","q"],"kind":"al","code":"QZ-7","when":"2024-0', '1-11"}'),
    ],
)
def test_shortest_closings_of_an_object(text: str, closing: str | None) -> None:
    prefix = JsonPrefix()
    prefix.feed(text)
    found = Closer(OBJECT).closings(prefix)
    if closing is None:
        judge = Judge(OBJECT)
        assert not [c for c in found if judge.accepts(text + c)]
    else:
        assert found[0] == closing
        assert Judge(OBJECT).accepts(text + closing)


@pytest.mark.parametrize(
    ("schema", "text", "closing"),
    [
        ({"type": "number"}, "-", "0"),
        ({"type": "number"}, "1.", "0"),
        ({"type": "number"}, "2e", "0"),
        ({"type": "boolean"}, "fa", "lse"),
        ({"type": "array", "items": {"type": "null"}, "minItems": 3}, "[nu", "ll,null,null]"),
        ({"type": "string", "pattern": "png$"}, '"x', 'png"'),  # unanchored: ends with png
        ({"type": "string", "minLength": 3}, '"\\', '\\aa"'),  # an open escape first
        ({"anyOf": [{"type": "integer"}, {"type": "array"}]}, "[", "]"),
        ({"$defs": {"p": {"type": "string"}}, "items": {"$ref": "#/$defs/p"}}, '["', '"]'),
    ],
)
def test_closings_of_scalars_and_compositions(schema: Any, text: str, closing: str) -> None:
    assert _close(schema, text) == closing
    assert Judge(schema).accepts(text + closing)


def test_a_complete_document_needs_nothing() -> None:
    prefix = JsonPrefix()
    prefix.feed('{"a":1}')
    assert Closer({}).closings(prefix) == [""]


# -- real-world schemas ------------------------------------------------------------------------
PER_SUBSET = 12
PREFIXES = 4
_TOKENIZER = byte_tokenizer()
_ASCII = range(0x20, 0x7F)


def _random_prefix(grammar: str, rng: random.Random, steps: int) -> str | None:
    """A prefix the grammar allows: random allowed printable bytes, one at a time."""
    matcher = LLMatcher(_TOKENIZER, grammar, log_level=0)
    out = bytearray()
    for _ in range(steps):
        mask = matcher.compute_bitmask()
        allowed = [b for b in _ASCII if mask[b // 8] >> (b % 8) & 1]
        if not allowed or matcher.is_stopped():
            break
        byte = rng.choice(allowed)
        assert matcher.consume_token(byte)
        out.append(byte)
    return out.decode()


def test_random_grammar_prefixes_of_real_schemas_close(dev_cases: list[Any]) -> None:
    """Every closing the closer proposes first is checked against the schema and the grammar;
    the share of prefixes that get a valid closing is what budget closing can promise."""
    rng = random.Random(0)
    tried = closed = first_valid = 0
    for case, grammar in compiling(dev_cases, _TOKENIZER):
        closer = Closer(case.schema)
        judge = Judge(case.schema, lambda d, s=case.schema: matches(_TOKENIZER, "json", s, d))
        for _ in range(PREFIXES):
            text = _random_prefix(grammar, rng, rng.randint(0, 150))
            prefix = JsonPrefix()
            prefix.feed(text)  # a grammar prefix is always a JSON prefix
            candidates = closer.closings(prefix)
            tried += 1
            first_valid += bool(candidates) and judge.accepts(text + candidates[0])
            closing = best_closing(closer, judge, text, prefix)
            if closing is not None:
                closed += 1
                assert judge.accepts(text + closing)
    print(f"\nclosed {closed}/{tried}, first candidate valid {first_valid}/{tried}")
    assert tried >= 300
    assert closed / tried >= 0.9, (closed, tried)


@pytest.mark.parametrize(
    ("schema", "text", "free"),
    [
        (OBJECT, '{"note":"ab', True),  # a string with no content keyword
        (OBJECT, '{"code":"A', False),  # pattern
        (OBJECT, '{"when":"2', False),  # format
        (OBJECT, '{"kind":"a', False),  # enum
        (OBJECT, '{"no', False),  # a key, not a value
        (OBJECT, '{"note":"a\\', False),  # an escape is open
        ({"anyOf": [{"type": "string"}, {"type": "string", "maxLength": 3}]}, '"a', False),
        ({"items": {"type": "string"}}, '["x', True),
    ],
)
def test_free_strings_are_those_no_schema_constrains(schema: Any, text: str, free: bool) -> None:
    prefix = JsonPrefix()
    prefix.feed(text)
    closer = Closer(schema)
    assert closer.free_string(prefix) is free
    if free:  # more plain text leaves the closing as it is
        longer = prefix.copy()
        longer.feed("more text")
        assert closer.closings(longer) == closer.closings(prefix)
