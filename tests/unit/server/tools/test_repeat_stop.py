"""An answer ends at its first repeated call (server.tools.repeat_stop): the watch on its own, then
the gateway over a scripted engine that repeats a pair of calls until its output ends."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.responses import Response, StreamingResponse

from server.tools.repeat_stop import RepeatWatch
from server.tools.syntax import calls_text
from tests.unit.server.scripted_engine import make_scripted_engine
from tests.unit.server.tools.test_gateway_tools import CALL, ROME, WEATHER, request, sse_chunks

PARIS_ARGS, ROME_ARGS = '{"city": "Paris"}', '{"city": "Rome"}'
LOOP = "\n".join([CALL, ROME] * 20)  # what a small model does with parallel calls allowed


def test_calls_text_is_what_the_calls_parse_from() -> None:
    assert (
        calls_text([("get_weather", PARIS_ARGS), ("get_weather", ROME_ARGS)]) == CALL + "\n" + ROME
    )


@pytest.mark.parametrize("size", [1, 3, 7, 1000])
def test_watch_keeps_the_calls_before_the_first_repeat(size: int) -> None:
    watch = RepeatWatch(allow_text=False)
    fired_at = None
    for at in range(0, len(LOOP), size):
        if watch.feed(LOOP[at : at + size]):
            fired_at = at + size
            break
    assert watch.kept == CALL + "\n" + ROME
    third_call_args_end = len(CALL + "\n" + ROME + "\n" + CALL) - len("}\n</tool_call>")
    assert fired_at is not None and third_call_args_end <= fired_at < third_call_args_end + size
    assert watch.feed("anything") is True  # it stays fired


def test_watch_compares_arguments_as_json() -> None:
    reordered = CALL.replace('{"city": "Paris"}', '{ "city":"Paris" }')
    watch = RepeatWatch(allow_text=False)
    assert watch.feed(CALL + "\n" + reordered) is True
    assert watch.kept == CALL


@pytest.mark.parametrize(
    "output",
    [CALL + "\n" + ROME, "Sunny. " * 50, CALL.replace("Paris", "Par") + "\n" + CALL, "<bad"],
)
def test_watch_never_fires_without_a_repeat(output: str) -> None:
    watch = RepeatWatch(allow_text=True)
    assert not any(watch.feed(char) for char in output)
    assert watch.kept is None


async def _gateway(make_gateway: Any, **settings: Any) -> tuple[Any, Any]:
    engine = make_scripted_engine(lambda body, index: LOOP, piece=5)
    gw, _, _ = await make_gateway({"engine-a": engine}, **settings)
    return gw, engine


async def test_unary_answer_ends_at_the_first_repeat(make_gateway: Any) -> None:
    gw, engine = await _gateway(make_gateway)
    r = await gw.post("/v1/chat/completions", json=request("loop", tool_choice="required"))
    assert r.status_code == 200, r.text
    body = r.json()
    [choice] = body["choices"]
    calls = [c["function"]["arguments"] for c in choice["message"]["tool_calls"]]
    assert calls == [PARIS_ARGS, ROME_ARGS]
    assert choice["finish_reason"] == "tool_calls" and choice["message"]["content"] is None
    verdict = choice["structured_output"]
    assert verdict["stopped_at_repeat"] is True and verdict["valid"] is True
    assert len(verdict["tool_calls"]) == 2
    # usage counts what the engine generated until the gateway stopped reading: past the two
    # calls (the repeat was generated), far short of the whole output
    used = body["usage"]["completion_tokens"]
    assert len(CALL + "\n" + ROME + "\n" + CALL) - 20 < used < len(LOOP) // 4
    [sent] = engine.state.bodies
    assert sent["stream"] is True
    assert sent["stream_options"] == {"include_usage": True, "continuous_usage_stats": True}
    assert body["object"] == "chat.completion" and body["id"] == "x"


@pytest.mark.parametrize("usage", [None, {"include_usage": True}])
async def test_stream_ends_at_the_first_repeat(make_gateway: Any, usage: Any) -> None:
    gw, _ = await _gateway(make_gateway)
    body = request("loop", tool_choice="required", stream=True, stream_options=usage)
    r = await gw.post("/v1/chat/completions", json=body)
    assert r.text.rstrip().endswith("data: [DONE]") and r.text.count("[DONE]") == 1
    chunks = sse_chunks(r.text)
    args: dict[int, str] = {}
    for chunk in chunks:
        for choice in chunk.get("choices") or []:
            for entry in choice["delta"].get("tool_calls") or []:
                args[entry["index"]] = args.get(entry["index"], "") + entry["function"]["arguments"]
    assert list(args.values()) == [PARIS_ARGS, ROME_ARGS]
    finals = [
        c["choices"][0] for c in chunks if c.get("choices") and c["choices"][0]["finish_reason"]
    ]
    [final] = finals
    assert final["finish_reason"] == "tool_calls"
    assert final["structured_output"]["stopped_at_repeat"] is True
    assert not any("usage" in c for c in chunks if c.get("choices"))  # not asked continuous
    usage_chunks = [c for c in chunks if not c.get("choices")]
    if usage is None:
        assert usage_chunks == []
    else:
        [last] = usage_chunks
        assert chunks[-1] is last and 0 < last["usage"]["completion_tokens"] < len(LOOP) // 4


async def test_turned_off_the_whole_answer_is_read_and_repeats_dropped(make_gateway: Any) -> None:
    gw, engine = await _gateway(make_gateway, tool_repeat_stop=False)
    r = await gw.post("/v1/chat/completions", json=request("loop", tool_choice="required"))
    [choice] = r.json()["choices"]
    assert [c["function"]["arguments"] for c in choice["message"]["tool_calls"]] == [
        PARIS_ARGS,
        ROME_ARGS,
    ]
    assert choice["structured_output"]["duplicate_calls_dropped"] == 38
    assert "stopped_at_repeat" not in choice["structured_output"]
    assert "stream" not in engine.state.bodies[0]


@pytest.mark.parametrize(
    "fields",
    [{"parallel_tool_calls": False}, {"n": 2}, {"logprobs": True}],
)
async def test_where_a_repeat_cannot_happen_or_be_cut_the_answer_is_unary(
    make_gateway: Any, fields: dict[str, Any]
) -> None:
    gw, engine = await _gateway(make_gateway)
    r = await gw.post("/v1/chat/completions", json=request("loop", **fields))
    assert r.status_code == 200, r.text
    assert "stream" not in engine.state.bodies[0]
    for choice in r.json()["choices"]:
        assert "stopped_at_repeat" not in choice["structured_output"]


async def test_an_engine_error_in_the_stream_is_the_clients_error(make_gateway: Any) -> None:
    engine = FastAPI()

    @engine.post("/v1/chat/completions")
    async def broken() -> Response:
        async def events() -> AsyncIterator[str]:
            chunk = {"id": "x", "choices": [{"index": 0, "delta": {"content": CALL[:9]}}]}
            yield f"data: {json.dumps(chunk)}\n\n"
            yield 'data: {"error": {"message": "boom", "type": "BadRequestError", "code": 400}}\n\n'

        return StreamingResponse(events(), media_type="text/event-stream")

    @engine.get("/health")
    async def health() -> Response:
        return Response(status_code=200)

    @engine.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": "fake-model", "max_model_len": 2048}]}

    gw, _, _ = await make_gateway({"engine-a": engine})
    loose = {"type": "function", "function": {**WEATHER["function"], "strict": False}}
    body = request("x", tool_choice="required", tools=[loose])  # this engine is not verified
    r = await gw.post("/v1/chat/completions", json=body)
    assert r.status_code == 400 and r.json()["error"]["message"] == "boom"
