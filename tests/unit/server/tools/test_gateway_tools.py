"""Tool calling through the gateway over a scripted engine (fast; the real engine is in
tests/integration/test_tools.py): what the engine receives, what the client gets, unary and
streamed, through the official `openai` client too."""

from __future__ import annotations

import json
from typing import Any

import httpx
import openai
import pydantic
import pytest

from server.tools import tool_system_block
from tests.unit.server.scripted_engine import make_scripted_engine

PARAMS = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
    "additionalProperties": False,
}
WEATHER = {
    "type": "function",
    "function": {"name": "get_weather", "parameters": PARAMS, "strict": True},
}
CALL = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'
ROME = CALL.replace("Paris", "Rome")
BAD = '<tool_call>\n{"name": "get_weather", "arguments": {"town": "Paris"}}\n</tool_call>'


def outputs(body: dict[str, Any], index: int) -> str:
    """The engine's text: what the last user message asks for."""
    asked = body["messages"][-1]["content"]
    answers = {"call": CALL, "two": CALL + "\n" + ROME, "same": CALL + "\n" + ROME + "\n" + CALL}
    return {**answers, "bad": BAD}.get(asked, "Sunny.")


async def gateway(make_gateway: Any, **settings: Any) -> tuple[httpx.AsyncClient, Any]:
    engine = make_scripted_engine(outputs)
    gw, _, _ = await make_gateway({"engine-a": engine}, **settings)
    return gw, engine


def request(asked: str, **fields: Any) -> dict[str, Any]:
    messages = [{"role": "user", "content": asked}]
    return {"model": "fake-model", "messages": messages, "tools": [WEATHER], **fields}


def sse_chunks(text: str) -> list[dict[str, Any]]:
    return [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: {")]


async def test_unary_call_becomes_tool_calls_with_a_verdict(make_gateway: Any) -> None:
    gw, engine = await gateway(make_gateway)
    r = await gw.post("/v1/chat/completions", json=request("call", tool_choice="required"))
    assert r.status_code == 200, r.text
    [choice] = r.json()["choices"]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    [call] = choice["message"]["tool_calls"]
    assert call["function"] == {"name": "get_weather", "arguments": '{"city": "Paris"}'}
    assert call["type"] == "function" and call["id"].startswith("call_")
    verdict = choice["structured_output"]
    assert verdict["kind"] == "tool_calls" and verdict["valid"] is True and verdict["strict"]
    assert verdict["tool_calls"][0]["name"] == "get_weather"
    [sent] = engine.state.bodies
    assert "tools" not in sent and "tool_choice" not in sent
    assert sent["messages"][0] == {"role": "system", "content": tool_system_block([WEATHER])}
    assert sent["structured_outputs"]["grammar"].startswith("start: calls")


async def test_invalid_arguments_are_a_schema_violation(make_gateway: Any) -> None:
    gw, _ = await gateway(make_gateway)
    r = await gw.post("/v1/chat/completions", json=request("bad"))
    [choice] = r.json()["choices"]
    assert choice["finish_reason"] == "schema_violation"
    assert choice["structured_output"]["valid"] is False
    assert choice["structured_output"]["errors"][0]["pointer"].startswith("/tool_calls/0/")
    assert choice["message"]["tool_calls"][0]["function"]["arguments"] == '{"town": "Paris"}'


async def test_auto_text_answer_stays_content(make_gateway: Any) -> None:
    gw, _ = await gateway(make_gateway)
    r = await gw.post("/v1/chat/completions", json=request("weather?"))
    [choice] = r.json()["choices"]
    assert choice["finish_reason"] == "stop" and choice["message"]["content"] == "Sunny."
    assert not choice["message"].get("tool_calls")


async def test_stream_turns_content_into_tool_call_deltas(make_gateway: Any) -> None:
    gw, _ = await gateway(make_gateway)
    body = request("two", stream=True, stream_options={"include_usage": True})
    r = await gw.post("/v1/chat/completions", json=body)
    chunks = sse_chunks(r.text)
    deltas = [c["choices"][0]["delta"] for c in chunks if c.get("choices")]
    assert not any(d.get("content") for d in deltas)
    starts = [e for d in deltas for e in d.get("tool_calls", []) if "id" in e]
    names = [(e["index"], e["function"]["name"]) for e in starts]
    assert names == [(0, "get_weather"), (1, "get_weather")]
    args = ["", ""]
    for d in deltas:
        for e in d.get("tool_calls", []):
            args[e["index"]] += e["function"]["arguments"]
    assert args == ['{"city": "Paris"}', '{"city": "Rome"}']
    choices = [c["choices"][0] for c in chunks if c.get("choices")]
    final = [choice for choice in choices if choice["finish_reason"]]
    assert [f["finish_reason"] for f in final] == ["tool_calls"]
    assert final[0]["structured_output"]["valid"] is True
    assert r.text.rstrip().endswith("data: [DONE]")


def _stream_calls(text: str) -> list[tuple[str, str]]:
    calls: list[list[str]] = []
    for chunk in sse_chunks(text):
        for choice in chunk.get("choices") or []:
            for entry in choice["delta"].get("tool_calls") or []:
                if "id" in entry:
                    calls.append([entry["function"]["name"], ""])
                calls[entry["index"]][1] += entry["function"]["arguments"]
    return [(name, args) for name, args in calls]


@pytest.mark.parametrize("dedupe", [True, False])
async def test_a_repeated_call_is_sent_once_unless_turned_off(
    make_gateway: Any, dedupe: bool
) -> None:
    # the whole answer read (tool_repeat_stop off; on, it ends at the repeat: test_repeat_stop)
    gw, _ = await gateway(make_gateway, tool_dedupe=dedupe, tool_repeat_stop=False)
    r = await gw.post("/v1/chat/completions", json=request("same"))
    [choice] = r.json()["choices"]
    calls = [(c["function"]["name"], c["function"]["arguments"])
             for c in choice["message"]["tool_calls"]]  # fmt: skip
    paris, rome = ("get_weather", '{"city": "Paris"}'), ("get_weather", '{"city": "Rome"}')
    assert calls == ([paris, rome] if dedupe else [paris, rome, paris])
    verdict = choice["structured_output"]
    assert verdict.get("duplicate_calls_dropped") == (1 if dedupe else None)
    assert len(verdict["tool_calls"]) == len(calls)
    r = await gw.post("/v1/chat/completions", json=request("same", stream=True))
    assert _stream_calls(r.text) == calls


async def test_bad_tools_are_openai_errors(make_gateway: Any) -> None:
    gw, engine = await gateway(make_gateway)
    named = {"type": "function", "function": {"name": "nope"}}
    r = await gw.post("/v1/chat/completions", json=request("x", tool_choice=named))
    assert r.status_code == 400
    assert r.json()["error"]["param"] == "tool_choice.function.name"
    r = await gw.post("/v1/chat/completions", json=request("x", tools=[{"type": "function"}]))
    assert r.status_code == 400 and r.json()["error"]["param"] == "tools[0].function"
    r = await gw.post("/v1/chat/completions", json=request("x", tools={"a": 1}))
    assert r.status_code == 400 and r.json()["error"]["param"] == "tools"
    assert engine.state.bodies == []


async def test_model_prompt_setting_forwards_tools(make_gateway: Any) -> None:
    gw, engine = await gateway(make_gateway, tool_prompt="model")
    r = await gw.post("/v1/chat/completions", json=request("call", tool_choice="required"))
    assert r.json()["choices"][0]["finish_reason"] == "tool_calls"
    [sent] = engine.state.bodies
    assert sent["tools"] == [WEATHER] and sent["tool_choice"] == "none"
    assert sent["messages"] == [{"role": "user", "content": "call"}]


class Weather(pydantic.BaseModel):
    city: str


async def test_official_client_parse_with_pydantic_function_tool(make_gateway: Any) -> None:
    gw, _ = await gateway(make_gateway)
    client = openai.AsyncOpenAI(base_url="http://gateway/v1", api_key="x", http_client=gw)
    out = await client.chat.completions.parse(
        model="fake-model",
        messages=[{"role": "user", "content": "call"}],
        tools=[openai.pydantic_function_tool(Weather, name="get_weather")],
        tool_choice="required",
    )
    [call] = out.choices[0].message.tool_calls or []
    assert call.function.parsed_arguments == Weather(city="Paris")
    assert out.choices[0].finish_reason == "tool_calls"


@pytest.mark.parametrize("stream", [False, True])
async def test_tool_choice_none_is_plain_text(make_gateway: Any, stream: bool) -> None:
    gw, engine = await gateway(make_gateway)
    body = request("call", tool_choice="none", stream=stream)
    r = await gw.post("/v1/chat/completions", json=body)
    text = r.text if stream else r.json()["choices"][0]["message"]["content"]
    assert "<tool_call>" in text and 'tool_calls": [{' not in text
    assert "structured_outputs" not in engine.state.bodies[0]
