"""Identical calls of one answer are sent once (server.tools.dedupe), unary and streamed alike:
the stream, cut anywhere, reassembles to exactly the unary calls; the verdict counts the drops."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from server.tools.dedupe import call_key, distinct_calls
from server.tools.plan import ToolPlan
from server.tools.response import apply_tool_calls
from server.tools.stream import ToolDeltas
from tests.unit.server.tools.test_stream import chunk, reassemble


def block(name: str, args: str) -> str:
    return f'<tool_call>\n{{"name": "{name}", "arguments": {args}}}\n</tool_call>'


PARIS = '{"city": "Paris", "days": [1, 2]}'
PARIS_REORDERED = '{"days": [1,2], "city": "Paris"}'
ROME = '{"city": "Rome", "days": [1, 2]}'
CALLS = [("weather", PARIS), ("weather", PARIS_REORDERED), ("time", "{}"), ("weather", ROME),
         ("time", "{}"), ("weather", PARIS)]  # fmt: skip
TEXT = "\n".join(block(name, args) for name, args in CALLS)
KEPT = [("weather", PARIS), ("time", "{}"), ("weather", ROME)]


def test_identical_means_same_name_and_same_json() -> None:
    assert call_key("weather", PARIS) == call_key("weather", PARIS_REORDERED)
    assert call_key("weather", PARIS) != call_key("weather", ROME)
    assert call_key("weather", PARIS) != call_key("other", PARIS)
    assert call_key("weather", '{"a": ') == ("weather", '{"a": ')  # unparsed: the raw text
    assert distinct_calls(CALLS) == [0, 2, 3]


def _unary(text: str, dedupe: bool) -> tuple[list[tuple[str, str]], dict[str, Any]]:
    plan = ToolPlan(kind="tool_calls", dedupe=dedupe)
    verdict = plan.check(text, "stop")
    message = {"role": "assistant", "content": text}
    data = {"choices": [{"index": 0, "message": message, "finish_reason": "stop"}]}
    apply_tool_calls(data, plan)
    calls = [(c["function"]["name"], c["function"]["arguments"]) for c in message["tool_calls"]]
    return calls, verdict


def test_unary_answer_sends_each_call_once_and_says_so() -> None:
    calls, verdict = _unary(TEXT, dedupe=True)
    assert calls == KEPT
    assert [c["index"] for c in verdict["tool_calls"]] == [0, 1, 2]
    assert [c["name"] for c in verdict["tool_calls"]] == ["weather", "time", "weather"]
    assert verdict["duplicate_calls_dropped"] == 3


def test_off_keeps_every_call() -> None:
    calls, verdict = _unary(TEXT, dedupe=False)
    assert calls == CALLS
    assert "duplicate_calls_dropped" not in verdict


def _stream(text: str, cuts: list[int]) -> list[dict[str, Any]]:
    deltas = ToolDeltas(allow_text=False, dedupe=True)
    bounds = [0, *cuts, len(text)]
    out: list[dict[str, Any]] = []
    for a, b in itertools.pairwise(bounds):
        out += deltas.convert(chunk(text[a:b], "tool_calls" if b == len(text) else None))
    return out


@pytest.mark.parametrize("step", [1, 7])
def test_stream_cut_anywhere_sends_the_unary_calls(step: int) -> None:
    """Every single cut, and a stream of `step`-character pieces."""
    for cuts in [[cut] for cut in range(len(TEXT) + 1)] + [list(range(step, len(TEXT), step))]:
        _, calls, finish, _ = reassemble(_stream(TEXT, cuts))
        assert [(c["name"], c["args"]) for c in calls] == KEPT, cuts
        assert finish == "tool_calls"


def test_a_new_function_streams_before_its_call_is_complete() -> None:
    """Only a function already called is held back; the first call of each streams as usual."""
    text = block("weather", PARIS)
    out = _stream(text, [len(text) - 20])
    _, calls, _, _ = reassemble(out[:-1])  # all but the last chunk
    assert [c["name"] for c in calls] == ["weather"] and calls[0]["args"].startswith('{"city"')


def test_a_truncated_repeat_is_sent_as_generated() -> None:
    """A repeat cut by max_tokens is not known to be identical: it goes out like any call."""
    text = block("weather", PARIS) + "\n" + block("weather", PARIS)[:-25]
    deltas = ToolDeltas(allow_text=False, dedupe=True)
    out = deltas.convert(chunk(text[:40])) + deltas.convert(chunk(text[40:], "length"))
    _, calls, finish, _ = reassemble(out)
    assert finish == "length" and [c["name"] for c in calls] == ["weather", "weather"]
    assert calls[1]["args"] == block("weather", PARIS)[:-25].split('"arguments": ', 1)[1]
