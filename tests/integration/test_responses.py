"""The Responses API over the real engine, driven with the official openai client.

Every test here uses a gateway attached to the session's engine with its own `--responses-db`
(attaching starts no engine), so stored responses never land in the user's cache directory.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from pydantic import BaseModel

from tests.integration.gateways import Gateway, attached

WEATHER_TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "Current weather of a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string", "maxLength": 40}},
        "required": ["city"],
        "additionalProperties": False,
    },
    "strict": True,
}


class City(BaseModel):
    """What `responses.parse` asks for."""

    name: str
    population: int


@pytest.fixture(scope="module")
def responses_gw(gateway: Gateway, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """A gateway on the session's engine whose responses DB is a temp file."""
    log_dir = tmp_path_factory.mktemp("responses")
    with attached(gateway, log_dir, "--responses-db", str(log_dir / "responses.sqlite")) as gw:
        yield gw


def test_create_text(responses_gw: Gateway) -> None:
    client = responses_gw.client()
    out = client.responses.create(
        model=responses_gw.model,
        input="Name three colors.",
        instructions="Answer briefly.",
        max_output_tokens=16,
        temperature=0,
    )
    assert out.id.startswith("resp_") and out.object == "response"
    assert out.status in ("completed", "incomplete")
    assert out.output_text.strip()
    assert out.usage is not None and 0 < out.usage.output_tokens <= 16
    assert out.usage.input_tokens > 0
    if out.status == "incomplete":
        assert out.incomplete_details is not None
        assert out.incomplete_details.reason == "max_output_tokens"


def test_parse_strict_json_schema(responses_gw: Gateway) -> None:
    client = responses_gw.client()
    out = client.responses.parse(
        model=responses_gw.model,
        input="Give a city and its population as JSON.",
        text_format=City,
        max_output_tokens=200,
        temperature=0,
    )
    assert out.status == "completed", out.model_dump()
    assert isinstance(out.output_parsed, City)
    message = out.output[0].model_dump()
    assert message["structured_output"]["valid"] is True, message


def test_stream_deltas_make_the_final_text(responses_gw: Gateway) -> None:
    client = responses_gw.client()
    kinds: list[str] = []
    deltas: list[str] = []
    final = None
    with client.responses.stream(
        model=responses_gw.model, input="Count to five.", max_output_tokens=24, temperature=0
    ) as stream:
        for event in stream:
            kinds.append(event.type)
            if event.type == "response.output_text.delta":
                deltas.append(event.delta)
            if event.type in ("response.completed", "response.incomplete"):
                final = event.response
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds[-1] in ("response.completed", "response.incomplete")
    assert final is not None and final.usage is not None and final.usage.output_tokens > 0
    assert deltas and "".join(deltas) == final.output_text


def test_retrieve_and_delete(responses_gw: Gateway) -> None:
    client = responses_gw.client()
    out = client.responses.create(model=responses_gw.model, input="Hi", max_output_tokens=4)
    got = client.responses.retrieve(out.id)
    assert got.id == out.id and got.output_text == out.output_text
    client.responses.delete(out.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(out.id)
    unstored = client.responses.create(
        model=responses_gw.model, input="Hi", max_output_tokens=4, store=False
    )
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(unstored.id)
    with pytest.raises(openai.NotFoundError) as info:
        client.responses.create(
            model=responses_gw.model, input="Hi", previous_response_id=unstored.id
        )
    assert info.value.body["param"] == "previous_response_id"  # type: ignore[index]


def _texts(items: list[object]) -> list[str]:
    out = []
    for item in items:
        for part in getattr(item, "content", None) or []:
            out.append(getattr(part, "text", ""))
    return out


def test_conversation_survives_a_gateway_restart(gateway: Gateway, tmp_path: Path) -> None:
    db = tmp_path / "conversation.sqlite"
    (tmp_path / "first").mkdir()
    (tmp_path / "second").mkdir()
    with attached(gateway, tmp_path / "first", "--responses-db", str(db)) as first_gw:
        first = first_gw.client().responses.create(
            model=gateway.model, input="My name is Zorblax.", max_output_tokens=8, temperature=0
        )
    # that gateway is stopped; a new one reads the same file
    with attached(gateway, tmp_path / "second", "--responses-db", str(db)) as second_gw:
        client = second_gw.client()
        assert client.responses.retrieve(first.id).output_text == first.output_text
        second = client.responses.create(
            model=gateway.model,
            input="What is my name?",
            previous_response_id=first.id,
            max_output_tokens=8,
            temperature=0,
        )
        items = list(client.responses.input_items.list(second.id, order="asc"))
    assert second.previous_response_id == first.id
    assert _texts(items) == ["My name is Zorblax.", first.output_text, "What is my name?"]
    assert first.usage is not None and second.usage is not None
    assert second.usage.input_tokens > first.usage.input_tokens + first.usage.output_tokens


def _chat_tools_supported(gw: Gateway) -> bool:
    """Whether the gateway answers a chat request that requires a tool call with `tool_calls`
    (before the chat path has tool calling it answers 400, or plain text)."""
    body = {
        "model": gw.model,
        "messages": [{"role": "user", "content": "Weather in Paris?"}],
        "tools": [{"type": "function", "function": {k: WEATHER_TOOL[k] for k in
                                                    ("name", "description", "parameters")}}],
        "tool_choice": "required",
        "parallel_tool_calls": False,
        "max_tokens": 128,
        "temperature": 0,
    }  # fmt: skip
    r = httpx.post(f"{gw.base_url}/v1/chat/completions", json=body, timeout=120)
    if not r.is_success:
        return False
    return bool((r.json()["choices"][0]["message"] or {}).get("tool_calls"))


def test_function_tool_round_trip(responses_gw: Gateway) -> None:
    if not _chat_tools_supported(responses_gw):
        pytest.skip("the gateway does not answer chat tool calls yet (tool_choice: required)")
    client = responses_gw.client()
    out = client.responses.create(
        model=responses_gw.model,
        input="What is the weather in Paris?",
        tools=[WEATHER_TOOL],  # type: ignore[list-item]
        tool_choice="required",
        parallel_tool_calls=False,
        max_output_tokens=128,
        temperature=0,
    )
    calls = [item for item in out.output if item.type == "function_call"]
    assert calls, out.model_dump()
    assert calls[0].name == "get_weather" and calls[0].id.startswith("fc_")  # type: ignore[union-attr]
    assert isinstance(json.loads(calls[0].arguments)["city"], str)  # type: ignore[union-attr]
    follow = client.responses.create(
        model=responses_gw.model,
        previous_response_id=out.id,
        input=[
            {"type": "function_call_output", "call_id": calls[0].call_id, "output": "sunny"}  # type: ignore[union-attr]
        ],
        tools=[WEATHER_TOOL],  # type: ignore[list-item]
        tool_choice="none",
        max_output_tokens=16,
    )
    assert follow.output_text
    kinds = [item.type for item in client.responses.input_items.list(follow.id, order="asc")]
    assert kinds == ["message", "function_call", "function_call_output"]
