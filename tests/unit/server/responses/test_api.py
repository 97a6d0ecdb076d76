"""POST/GET/DELETE /v1/responses through the gateway over fake engines (fast)."""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from server.responses.store import ResponseStore
from tests.unit.server.fake_engine import make_engine
from tests.unit.server.inprocess import check_error_answer
from tests.unit.server.responses.sdk import accumulate, parse_sse, sdk_response
from tests.unit.server.scripted_engine import make_scripted_engine

SCHEMA = {
    "type": "object",
    "properties": {"a": {"type": "integer"}},
    "required": ["a"],
    "additionalProperties": False,
}


@pytest.fixture
async def gw(make_gateway, tmp_path: Path) -> Any:  # type: ignore[no-untyped-def]
    """(client, fake engine app) with the DB in a temp dir."""
    engine = make_engine()
    client, _, _ = await make_gateway({"engine-a": engine}, responses_db=tmp_path / "r.sqlite")
    return client, engine


async def test_create_retrieve_delete(gw: Any) -> None:
    client, engine = gw
    r = await client.post(
        "/v1/responses",
        json={"model": "fake-model", "input": "hi", "max_output_tokens": 3, "metadata": {"k": "v"}},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    resp = sdk_response(body)
    assert resp.output_text == "alpha beta gamma" and resp.status == "incomplete"
    assert body["metadata"] == {"k": "v"} and body["usage"]["output_tokens"] == 3
    assert engine.state.bodies[-1]["messages"] == [{"role": "user", "content": "hi"}]
    assert engine.state.bodies[-1]["max_tokens"] == 3
    got = await client.get(f"/v1/responses/{body['id']}")
    assert got.status_code == 200 and got.json() == body
    items = (await client.get(f"/v1/responses/{body['id']}/input_items?order=asc")).json()
    assert [i["content"][0]["text"] for i in items["data"]] == ["hi"]
    deleted = await client.delete(f"/v1/responses/{body['id']}")
    assert deleted.json() == {"id": body["id"], "object": "response", "deleted": True}
    for method in ("get", "delete"):
        again = await getattr(client, method)(f"/v1/responses/{body['id']}")
        assert again.status_code == 404
        check_error_answer(again)
        assert again.json()["error"]["param"] == "response_id"


async def test_previous_response_id_replays_the_conversation(gw: Any) -> None:
    client, engine = gw
    first = (
        await client.post(
            "/v1/responses",
            json={
                "model": "fake-model",
                "input": "one",
                "instructions": "sys",
                "max_output_tokens": 2,
            },
        )
    ).json()
    second = await client.post(
        "/v1/responses",
        json={
            "model": "fake-model",
            "input": "two",
            "previous_response_id": first["id"],
            "max_output_tokens": 1,
        },
    )
    assert second.status_code == 200 and second.json()["previous_response_id"] == first["id"]
    assert engine.state.bodies[-1]["messages"] == [  # instructions are not carried over
        {"role": "user", "content": "one"},
        {"role": "assistant", "content": "alpha beta"},
        {"role": "user", "content": "two"},
    ]
    third = await client.post(
        "/v1/responses",
        json={
            "model": "fake-model",
            "input": "three",
            "previous_response_id": second.json()["id"],
            "stream": True,
        },
    )
    assert third.status_code == 200
    roles = [m["role"] for m in engine.state.bodies[-1]["messages"]]
    assert roles == ["user", "assistant", "user", "assistant", "user"]
    final = parse_sse(third.text)[-1][1]["response"]
    url = f"/v1/responses/{final['id']}/input_items"
    listed = (await client.get(url, params={"order": "asc"})).json()["data"]
    assert [i["role"] for i in listed] == roles
    newest = (await client.get(url, params={"limit": 2})).json()
    assert newest["data"] == listed[::-1][:2] and newest["has_more"] is True
    rest = (await client.get(url, params={"limit": 5, "after": newest["last_id"]})).json()
    assert rest["data"] == listed[::-1][2:] and rest["has_more"] is False
    bad = await client.get(url, params={"order": "sideways"})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "order"


async def test_store_false_is_not_retrievable_nor_continuable(gw: Any) -> None:
    client, _ = gw
    body = (
        await client.post(
            "/v1/responses", json={"model": "fake-model", "input": "x", "store": False}
        )
    ).json()
    assert body["store"] is False
    assert (await client.get(f"/v1/responses/{body['id']}")).status_code == 404
    r = await client.post(
        "/v1/responses",
        json={"model": "fake-model", "input": "y", "previous_response_id": body["id"]},
    )
    assert r.status_code == 404
    check_error_answer(r)
    assert r.json()["error"]["param"] == "previous_response_id"
    assert "not found" in r.json()["error"]["message"]


async def test_stream_events_and_stored_result(gw: Any) -> None:
    client, _ = gw
    r = await client.post(
        "/v1/responses",
        json={"model": "fake-model", "input": "x", "stream": True, "max_output_tokens": 4},
    )
    assert r.headers["content-type"].startswith("text/event-stream")
    events = parse_sse(r.text)
    accumulate(events)
    deltas = "".join(d["delta"] for n, d in events if n == "response.output_text.delta")
    assert events[-1][0] == "response.incomplete"  # the fake engine stops on length
    final = events[-1][1]["response"]
    assert deltas == "alpha beta gamma delta" == sdk_response(final).output_text
    assert (await client.get(f"/v1/responses/{final['id']}")).json() == final


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        ({"input": "x"}, 400, "model"),
        ({"model": "fake-model", "input": 5}, 400, "input"),
        ({"model": "fake-model"}, 400, "input"),
        (
            {"model": "fake-model", "input": "x", "previous_response_id": "resp_nope"},
            404,
            "previous_response_id",
        ),
        (
            {"model": "fake-model", "input": "x", "text": {"format": {"type": "json_schema"}}},
            400,
            "text.format.schema",
        ),
        (
            {"model": "fake-model", "input": "x", "tools": [{"type": "web_search_preview"}]},
            400,
            "tools.0.type",
        ),
        ({"model": "fake-model", "input": "x", "reasoning": {"effort": "high"}}, 400, "reasoning"),
        (
            {"model": "fake-model", "input": "x", "max_output_tokens": 999_999},
            400,
            "max_output_tokens",
        ),
        ({"model": "nope", "input": "x"}, 404, "model"),
        (
            {
                "model": "fake-model",
                "input": "x",
                "text": {
                    "format": {"type": "json_schema", "name": "S", "schema": {"type": "nonsense"}}
                },
            },
            400,
            "text.format.schema",
        ),
    ],
)
async def test_bad_requests(gw: Any, body: dict[str, Any], status: int, param: str) -> None:
    client, _ = gw
    r = await client.post("/v1/responses", json=body)
    assert r.status_code == status, r.text
    check_error_answer(r)
    assert r.json()["error"]["param"] == param, r.json()


async def test_bad_json_and_unknown_route(gw: Any) -> None:
    client, _ = gw
    r = await client.post("/v1/responses", content=b'{"model": ')
    assert r.status_code == 400
    check_error_answer(r)


@pytest.mark.parametrize("stream", [False, True])
async def test_json_schema_verdict(make_gateway, tmp_path: Path, stream: bool) -> None:  # type: ignore[no-untyped-def]
    outputs = {"good": '{"a": 1}', "bad": '{"a": "x"}'}
    engine = make_scripted_engine(lambda body, _: outputs[body["messages"][-1]["content"]])
    client, _, _ = await make_gateway({"engine-a": engine}, responses_db=tmp_path / "r.sqlite")
    fmt = {"type": "json_schema", "name": "S", "schema": SCHEMA, "strict": False}
    for prompt, status in (("good", "completed"), ("bad", "incomplete")):
        r = await client.post(
            "/v1/responses",
            json={
                "model": "fake-model",
                "input": prompt,
                "text": {"format": fmt},
                "stream": stream,
            },
        )
        assert r.status_code == 200, r.text
        body = parse_sse(r.text)[-1][1]["response"] if stream else r.json()
        assert body["status"] == status, body
        verdict = body["output"][0]["structured_output"]
        assert verdict["valid"] is (prompt == "good"), verdict
        assert "response_format" in engine.state.bodies[-1]


CALLS = [("call_1", "get_weather", '{"city": "Paris"}'), ("call_2", "get_time", "{}")]


def tool_chunks() -> list[dict[str, Any]]:
    """A streamed chat answer with two tool calls (OpenAI's chat chunk shapes)."""
    chunks = []
    for i, (cid, name, args) in enumerate(CALLS):
        first = {
            "index": i,
            "id": cid,
            "type": "function",
            "function": {"name": name, "arguments": ""},
        }
        rest = {"index": i, "function": {"arguments": args}}
        for call in (first, rest):
            chunks.append({"choices": [{"index": 0, "delta": {"tool_calls": [call]}}]})
    chunks.append({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]})
    chunks.append({"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 9}})
    return chunks


def tool_answer() -> dict[str, Any]:
    """A whole chat answer with two tool calls (OpenAI's chat completion shape)."""
    calls = [
        {"id": c, "type": "function", "function": {"name": n, "arguments": a}} for c, n, a in CALLS
    ]
    message = {"role": "assistant", "content": None, "tool_calls": calls}
    return {
        "id": "x",
        "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 9, "total_tokens": 14},
    }


def chat_path_answering_tools(app: FastAPI) -> list[dict[str, Any]]:
    """Stand in for the chat path at the seam (`GenerationService.handle_body`): record each chat
    body the Responses layer builds and answer with tool calls in OpenAI's chat shapes (what the
    chat path's tool calling returns, whatever it sends the engine)."""
    sent: list[dict[str, Any]] = []

    async def handle_body(
        request: Request, route: str, model: Any, body: Any, **_: Any
    ) -> Response:
        sent.append(copy.deepcopy(body))
        if body.get("stream"):

            async def events() -> AsyncIterator[bytes]:
                for chunk in tool_chunks():
                    yield f"data: {json.dumps(chunk)}\n\n".encode()
                yield b"data: [DONE]\n\n"

            return StreamingResponse(events(), media_type="text/event-stream")
        return JSONResponse(tool_answer())

    app.state.generation.handle_body = handle_body
    return sent


@pytest.mark.parametrize("stream", [False, True])
async def test_function_calls_round_trip(make_gateway, tmp_path: Path, stream: bool) -> None:  # type: ignore[no-untyped-def]
    client, app, _ = await make_gateway(responses_db=tmp_path / "r.sqlite")
    sent = chat_path_answering_tools(app)
    tool = {"type": "function", "name": "get_weather", "parameters": {"type": "object"}}
    r = await client.post(
        "/v1/responses",
        json={
            "model": "fake-model",
            "input": "weather?",
            "tools": [tool],
            "tool_choice": "required",
            "stream": stream,
        },
    )
    assert r.status_code == 200, r.text
    if stream:
        events = parse_sse(r.text)
        accumulate(events)
        body = events[-1][1]["response"]
    else:
        body = r.json()
    assert sent[-1]["tools"] == [
        {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}
    ]
    assert sent[-1]["tool_choice"] == "required"
    calls = [(i["type"], i["call_id"], i["name"], i["arguments"]) for i in body["output"]]
    assert calls == [
        ("function_call", "call_1", "get_weather", '{"city": "Paris"}'),
        ("function_call", "call_2", "get_time", "{}"),
    ]
    assert body["status"] == "completed" and body["usage"] is not None
    sdk_response(body)
    outputs = [
        {"type": "function_call_output", "call_id": "call_1", "output": "sunny"},
        {"type": "function_call_output", "call_id": "call_2", "output": "noon"},
    ]
    r = await client.post(
        "/v1/responses",
        json={"model": "fake-model", "input": outputs, "previous_response_id": body["id"]},
    )
    assert r.status_code == 200
    messages = sent[-1]["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "tool", "tool"]
    assert [c["id"] for c in messages[1]["tool_calls"]] == ["call_1", "call_2"]
    assert messages[2] == {"role": "tool", "tool_call_id": "call_1", "content": "sunny"}


def error_engine() -> FastAPI:
    """A chat engine whose stream breaks after one chunk with an error event."""
    app = make_engine()

    async def stream() -> AsyncIterator[str]:
        yield f"data: {json.dumps({'choices': [{'index': 0, 'delta': {'content': 'par'}}]})}\n\n"
        err = {"error": {"message": "engine blew up", "type": "server_error", "code": 500}}
        yield f"data: {json.dumps(err)}\n\n"

    app.router.routes = [
        r for r in app.router.routes if getattr(r, "path", "") != "/v1/chat/completions"
    ]

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Response:
        return StreamingResponse(stream(), media_type="text/event-stream")

    return app


async def test_mid_stream_error_ends_in_failed(make_gateway, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    client, _, _ = await make_gateway(
        {"engine-a": error_engine()}, responses_db=tmp_path / "r.sqlite"
    )
    r = await client.post(
        "/v1/responses", json={"model": "fake-model", "input": "x", "stream": True}
    )
    events = parse_sse(r.text)
    assert [n for n, _ in events][-2:] == ["error", "response.failed"]
    assert events[-2][1]["message"] == "engine blew up"
    accumulate(events)
    failed = events[-1][1]["response"]
    assert (await client.get(f"/v1/responses/{failed['id']}")).json()["status"] == "failed"


async def test_retention_purges_at_startup(make_gateway, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "r.sqlite"
    store = ResponseStore(path)
    store.put({"id": "resp_old", "created_at": 1000, "model": "m", "output": []}, [])
    store.put({"id": "resp_kept", "created_at": 10**10, "model": "m", "output": []}, [])
    store.close()
    client, _, _ = await make_gateway(responses_db=path, responses_retention_days=1)
    for _ in range(500):  # the purge runs in a task at start-up: up to 10 s on a busy machine
        if (await client.get("/v1/responses/resp_old")).status_code == 404:
            break
        await asyncio.sleep(0.02)
    assert (await client.get("/v1/responses/resp_old")).status_code == 404
    assert (await client.get("/v1/responses/resp_kept")).status_code == 200
