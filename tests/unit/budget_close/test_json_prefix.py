"""The prefix state machine: any split of the text gives the same state; bad text is refused."""

from __future__ import annotations

import random

import pytest

from budget_close.json_prefix import Expect, JsonPrefix, PrefixError

DOCUMENT = '{"a":[1,-2.5e+3,"x\\u00e9\\"y",true,null],"b":{"c":false},"d":""}'


def _state(prefix: JsonPrefix) -> tuple[object, ...]:
    stack = [(c.is_object, c.expect, tuple(c.keys), c.items) for c in prefix.stack]
    scalar = prefix.scalar and (prefix.scalar.kind, prefix.scalar.raw, prefix.scalar.escape)
    return (tuple(stack), scalar, prefix.started, prefix.done)


@pytest.mark.parametrize("cut", range(len(DOCUMENT) + 1))
def test_any_split_gives_the_same_state(cut: int) -> None:
    whole = JsonPrefix()
    whole.feed(DOCUMENT[:cut])
    pieces = JsonPrefix()
    rng = random.Random(cut)
    start = 0
    while start < cut:
        end = min(cut, start + rng.randint(1, 4))
        pieces.feed(DOCUMENT[start:end])
        start = end
    assert _state(pieces) == _state(whole)


def test_states_at_known_points() -> None:
    p = JsonPrefix()
    p.feed('{"a":[1,')
    assert [(c.is_object, c.expect) for c in p.stack] == [
        (True, Expect.VALUE),
        (False, Expect.VALUE),
    ]
    assert p.stack[0].keys == ["a"] and p.stack[1].items == 1
    p.feed('"x\\u00')
    assert p.scalar is not None and p.scalar.raw == "x" and p.scalar.escape == "\\u00"
    p.feed('e9"],"b"')
    assert p.stack[0].keys == ["a", "b"] and p.stack[0].expect is Expect.COLON
    p.feed(":1}")
    assert p.done


@pytest.mark.parametrize(
    "text", ['{"a" 1', "[1,]", '{"a":1]', "tru3", '"\\x"', "[-]", "{}1", '{"a":01}', '"a\nb"']
)
def test_text_no_document_starts_with_is_refused(text: str) -> None:
    with pytest.raises(PrefixError):
        JsonPrefix().feed(text)


def test_a_copy_goes_its_own_way() -> None:
    original = JsonPrefix()
    original.feed('{"a":[1,"x')
    copy = original.copy()
    copy.feed('y"],"b":{')
    assert _state(original) != _state(copy)
    fresh = JsonPrefix()
    fresh.feed('{"a":[1,"x')
    assert _state(original) == _state(fresh)
