"""Chat answers → Responses objects and stream events, checked with the official SDK's types."""

from __future__ import annotations

import json
from typing import Any

from server.responses.chat_body import build_chat_body
from server.responses.items import normalize_input
from server.responses.output import (
    Outcome,
    output_from_choice,
    response_object,
    usage_from_chat,
)
from server.responses.request import parse_responses_request
from server.responses.stream import StreamTranslator
from tests.unit.server.responses.sdk import accumulate, parse_sse, sdk_response

REQ = parse_responses_request({"model": "m", "input": "hi", "instructions": "be brief"})
USAGE = {
    "prompt_tokens": 11,
    "completion_tokens": 3,
    "total_tokens": 14,
    "prompt_tokens_details": {"cached_tokens": 4},
}


def whole(choice: dict[str, Any]) -> dict[str, Any]:
    outcome = Outcome.from_finish([choice.get("finish_reason")])
    return response_object(
        REQ,
        response_id="resp_1",
        created_at=1,
        outcome=outcome,
        output=output_from_choice(choice, outcome),
        usage=usage_from_chat(USAGE),
    )


def test_text_answer() -> None:
    obj = whole({"message": {"role": "assistant", "content": "Hello"}, "finish_reason": "stop"})
    resp = sdk_response(obj)
    assert resp.status == "completed" and resp.output_text == "Hello"
    assert resp.instructions == "be brief" and resp.incomplete_details is None
    assert obj["output"][0]["id"].startswith("msg_")
    assert obj["usage"] == {
        "input_tokens": 11,
        "input_tokens_details": {"cached_tokens": 4, "cache_write_tokens": 0},
        "output_tokens": 3,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 14,
    }


def test_length_is_incomplete_and_verdict_rides_on_the_message() -> None:
    verdict = {"valid": True, "errors": []}
    obj = whole(
        {"message": {"content": '{"a": 1'}, "finish_reason": "length", "structured_output": verdict}
    )
    resp = sdk_response(obj)
    assert resp.status == "incomplete"
    assert resp.incomplete_details is not None
    assert resp.incomplete_details.reason == "max_output_tokens"
    assert obj["output"][0]["status"] == "incomplete"
    assert obj["output"][0]["structured_output"] == verdict


def test_schema_violation_is_incomplete() -> None:
    obj = whole({"message": {"content": "{}"}, "finish_reason": "schema_violation"})
    assert obj["status"] == "incomplete"
    assert obj["incomplete_details"] == {"reason": "schema_violation"}


def test_tool_calls_become_function_call_items() -> None:
    calls = [
        {"id": "call_a", "type": "function", "function": {"name": "f", "arguments": '{"x": 1}'}},
        {"id": "call_b", "type": "function", "function": {"name": "g", "arguments": "{}"}},
    ]
    obj = whole({"message": {"content": None, "tool_calls": calls}, "finish_reason": "tool_calls"})
    resp = sdk_response(obj)
    assert resp.status == "completed"
    assert [(i.type, i.call_id, i.name, i.arguments) for i in resp.output] == [  # type: ignore[union-attr]
        ("function_call", "call_a", "f", '{"x": 1}'),
        ("function_call", "call_b", "g", "{}"),
    ]
    assert all(item["id"].startswith("fc_") for item in obj["output"])


def test_stored_output_replays_as_assistant_turn() -> None:
    calls = [{"id": "call_a", "type": "function", "function": {"name": "f", "arguments": "{}"}}]
    obj = whole(
        {"message": {"content": "let me see", "tool_calls": calls}, "finish_reason": "tool_calls"}
    )
    nxt = parse_responses_request(
        {
            "model": "m",
            "input": [{"type": "function_call_output", "call_id": "call_a", "output": "3"}],
        }
    )
    items = [*normalize_input("hi"), *obj["output"], *normalize_input(nxt.input)]
    assert build_chat_body(nxt, items)["messages"] == [  # instructions are not carried over
        {"role": "user", "content": "hi"},
        {
            "role": "assistant",
            "content": "let me see",
            "tool_calls": [
                {"id": "call_a", "type": "function", "function": {"name": "f", "arguments": "{}"}}
            ],
        },
        {"role": "tool", "tool_call_id": "call_a", "content": "3"},
    ]


def translate(chunks: list[dict[str, Any]]) -> tuple[StreamTranslator, bytes]:
    def build(outcome: Outcome, output: list[dict[str, Any]], usage: Any) -> dict[str, Any]:
        return response_object(
            REQ, response_id="resp_s", created_at=1, outcome=outcome, output=output, usage=usage
        )

    tr = StreamTranslator(build)
    raw = b"".join(tr.start())
    for chunk in chunks:
        if "error" in chunk:
            raw += b"".join(tr.fail(chunk["error"]))
            return tr, raw
        raw += b"".join(tr.feed(chunk))
    return tr, raw + b"".join(tr.finish())


def delta(content: str | None = None, finish: str | None = None, **extra: Any) -> dict[str, Any]:
    d: dict[str, Any] = {"role": "assistant"}
    if content is not None:
        d["content"] = content
    d.update(extra)
    return {"choices": [{"index": 0, "delta": d, "finish_reason": finish}]}


def test_text_stream_events_in_order_and_reassemble() -> None:
    pieces = ["Hel", "lo", ", world"]
    chunks = [delta(p) for p in pieces] + [delta(None, "stop")]
    chunks.append({"choices": [], "usage": USAGE})
    tr, raw = translate(chunks)
    events = parse_sse(raw)
    kinds = [name for name, _ in events]
    assert kinds == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        *["response.output_text.delta"] * 3,
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [data["sequence_number"] for _, data in events] == list(range(len(events)))
    deltas = "".join(d["delta"] for n, d in events if n == "response.output_text.delta")
    final = events[-1][1]["response"]
    assert deltas == "Hello, world" == final["output"][0]["content"][0]["text"]
    assert final["usage"]["input_tokens"] == 11 and tr.final == final
    state = accumulate(events)  # the SDK's own accumulator accepts the sequence
    assert state._completed_response.output_text == "Hello, world"


def test_stream_with_tool_calls_and_length() -> None:
    call0 = {
        "index": 0,
        "id": "call_a",
        "type": "function",
        "function": {"name": "f", "arguments": '{"x"'},
    }
    call0b = {"index": 0, "function": {"arguments": ": 1}"}}
    call1 = {
        "index": 1,
        "id": "call_b",
        "type": "function",
        "function": {"name": "g", "arguments": "{}"},
    }
    chunks = [
        delta("thinking"),
        delta(tool_calls=[call0]),
        delta(tool_calls=[call0b]),
        delta(tool_calls=[call1]),
        delta(None, "tool_calls"),
    ]
    _, raw = translate(chunks)
    events = parse_sse(raw)
    final = events[-1][1]["response"]
    assert events[-1][0] == "response.completed"
    assert [(i["type"], i.get("call_id"), i.get("arguments")) for i in final["output"]] == [
        ("message", None, None),
        ("function_call", "call_a", '{"x": 1}'),
        ("function_call", "call_b", "{}"),
    ]
    done = [d for n, d in events if n == "response.function_call_arguments.done"]
    assert [(d["name"], d["arguments"]) for d in done] == [("f", '{"x": 1}'), ("g", "{}")]
    assert [d["output_index"] for d in done] == [1, 2]
    accumulate(events)


def test_length_stream_is_incomplete_and_empty_stream_has_a_message() -> None:
    _, raw = translate([delta("ab"), delta(None, "length")])
    events = parse_sse(raw)
    assert events[-1][0] == "response.incomplete"
    assert events[-1][1]["response"]["incomplete_details"] == {"reason": "max_output_tokens"}
    accumulate(events)
    _, raw = translate([delta(None, "stop")])
    final = parse_sse(raw)[-1][1]["response"]
    assert final["output"][0]["content"][0]["text"] == ""


def test_mid_stream_error_ends_with_error_and_failed() -> None:
    err = {
        "message": "engine died",
        "type": "service_unavailable_error",
        "code": "engine_unavailable",
        "param": None,
    }
    tr, raw = translate([delta("par"), {"error": err}])
    events = parse_sse(raw)
    assert [n for n, _ in events][-2:] == ["error", "response.failed"]
    assert events[-2][1]["message"] == "engine died"
    assert events[-2][1]["code"] == "engine_unavailable"
    failed = events[-1][1]["response"]
    assert failed["status"] == "failed"
    assert failed["error"] == {"code": "server_error", "message": "engine died"}
    assert tr.final == failed
    json.dumps(failed)
    accumulate(events)
