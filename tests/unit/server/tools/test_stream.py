"""Engine text -> tool calls: whole answers and streams; a stream cut at every position
reassembles exactly the unary calls."""

from __future__ import annotations

import copy
import itertools
from typing import Any

import pytest

from server.tools.plan import ToolPlan
from server.tools.response import apply_tool_calls
from server.tools.stream import ToolDeltas
from server.tools.syntax import parse_output

ARGS = '{"city": "Pa}r\\"is", "n": [1, {}]}'
W = '<tool_call>\n{"name": "get_weather", "arguments": ' + ARGS + "}\n</tool_call>"
T = '<tool_call>\n{"name": "get_time", "arguments": {}}\n</tool_call>'
TWO = W + "\n" + T
VERDICT = {"kind": "tool_calls", "valid": True}


def chunk(piece: str, finish: str | None = None, index: int = 0) -> dict[str, Any]:
    choice: dict[str, Any] = {"index": index, "delta": {"content": piece}, "finish_reason": finish}
    if finish is not None:
        choice["structured_output"] = VERDICT
    return {"id": "x", "object": "chat.completion.chunk", "choices": [choice]}


def reassemble(chunks: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]], Any, Any]:
    """(content, calls, finish_reason, verdict) as the openai client accumulates a stream."""
    content, calls, finish, verdict = "", [], None, None
    for c in chunks:
        [choice] = c["choices"]
        delta = choice["delta"]
        content += delta.get("content") or ""
        for entry in delta.get("tool_calls") or []:
            if "id" in entry:
                assert entry["index"] == len(calls) and entry["function"]["arguments"] == ""
                calls.append({"id": entry["id"], "name": entry["function"]["name"], "args": ""})
            calls[entry["index"]]["args"] += entry["function"]["arguments"]
        if choice["finish_reason"] is not None:
            finish, verdict = choice["finish_reason"], choice.get("structured_output")
    return content, calls, finish, verdict


def stream(text: str, cuts: list[int], *, allow_text: bool, finish: str = "tool_calls") -> Any:
    deltas = ToolDeltas(allow_text)
    bounds = [0, *cuts, len(text)]
    out = [{"id": "x", "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                    "finish_reason": None}]}]  # fmt: skip
    out = deltas.convert(out[0])
    for a, b in itertools.pairwise(bounds):
        last = b == len(text)
        out += deltas.convert(chunk(text[a:b], finish if last else None))
    return out


@pytest.mark.parametrize("allow_text", [False, True])
def test_every_single_cut_reassembles_the_unary_calls(allow_text: bool) -> None:
    parsed = parse_output(TWO, allow_text=allow_text)
    expected = [(name, args) for name, args in parsed.calls]
    assert expected == [("get_weather", ARGS), ("get_time", "{}")]
    for cut in range(len(TWO) + 1):
        content, calls, finish, verdict = reassemble(stream(TWO, [cut], allow_text=allow_text))
        assert [(c["name"], c["args"]) for c in calls] == expected, cut
        assert content == "" and finish == "tool_calls" and verdict == VERDICT
        assert all(c["id"].startswith("call_") for c in calls)


def test_character_by_character_stream_reassembles_too() -> None:
    chunks = stream(TWO, list(range(1, len(TWO))), allow_text=True)
    _, calls, _, _ = reassemble(chunks)
    assert [c["args"] for c in calls] == [ARGS, "{}"]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"


@pytest.mark.parametrize("cut", [0, 1, 3, 7])
def test_text_answer_streams_as_content(cut: int) -> None:
    text = "It is sunny, <b>really</b>."
    content, calls, finish, _ = reassemble(stream(text, [cut], allow_text=True, finish="stop"))
    assert (content, calls, finish) == (text, [], "stop")


def test_truncated_call_keeps_what_was_sent_and_loses_no_text() -> None:
    text = W[:60]
    chunks = stream(text, [20, 50], allow_text=False, finish="length")
    _, calls, finish, _ = reassemble(chunks)
    assert finish == "length" and calls[0]["name"] == "get_weather"
    assert calls[0]["args"] == text[text.index('{"city"') :]


def test_usage_chunks_pass_through() -> None:
    usage = {"id": "x", "choices": [], "usage": {"completion_tokens": 3}}
    assert ToolDeltas(True).convert(copy.deepcopy(usage)) == [usage]


def test_choices_are_scanned_separately() -> None:
    deltas = ToolDeltas(True)
    out = deltas.convert(chunk(T[:30], index=0)) + deltas.convert(chunk("Hello", index=1))
    out += deltas.convert(chunk(T[30:], "tool_calls", index=0))
    out += deltas.convert(chunk("!", "stop", index=1))
    first = reassemble([c for c in out if c["choices"][0]["index"] == 0])
    second = reassemble([c for c in out if c["choices"][0]["index"] == 1])
    assert [(c["name"], c["args"]) for c in first[1]] == [("get_time", "{}")]
    assert second[0] == "Hello!" and second[1] == []


def _answer(text: str, finish: str) -> dict[str, Any]:
    message = {"role": "assistant", "content": text, "tool_calls": []}
    return {"choices": [{"index": 0, "message": message, "finish_reason": finish}]}


def test_unary_answer_gets_tool_calls_and_no_content() -> None:
    data = _answer(TWO, "tool_calls")
    apply_tool_calls(data, ToolPlan(kind="tool_calls", allow_text=True))
    message = data["choices"][0]["message"]
    assert message["content"] is None
    assert [(c["type"], c["function"]["name"]) for c in message["tool_calls"]] == [
        ("function", "get_weather"),
        ("function", "get_time"),
    ]
    assert message["tool_calls"][1]["function"]["arguments"] == "{}"
    assert len({c["id"] for c in message["tool_calls"]}) == 2


UNFINISHED = [(W[:50], "length"), ("Sunny.", "stop"), ("<b", "stop")]


@pytest.mark.parametrize(("text", "finish"), UNFINISHED)
def test_unary_answer_without_complete_calls_keeps_its_text(text: str, finish: str) -> None:
    data = _answer(text, finish)
    apply_tool_calls(data, ToolPlan(kind="tool_calls", allow_text=True))
    assert data["choices"][0]["message"] == {"role": "assistant", "content": text, "tool_calls": []}
