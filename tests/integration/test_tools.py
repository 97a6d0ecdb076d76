"""Tool calling against the real engine through the gateway, with the official client.

SmolLM2-135M is tiny: these tests assert the guarantees (shape, validity, finish reasons), not
which function a clever model would call. Greedy decoding and few tokens keep them short.
"""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import openai
import pydantic
import pytest

from tests.integration.gateways import Gateway

WEATHER_PARAMS = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "maxLength": 12},
        "unit": {"enum": ["celsius", "fahrenheit"]},
    },
    "required": ["city", "unit"],
    "additionalProperties": False,
}
WEATHER: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city",
        "parameters": WEATHER_PARAMS,
        "strict": True,
    },
}
TIME: Any = {
    "type": "function",
    "function": {
        "name": "get_time",
        "description": "Current time in a time zone",
        "parameters": {
            "type": "object",
            "properties": {"zone": {"type": "string", "maxLength": 8}},
            "required": ["zone"],
        },
    },
}
SCHEMAS = {"get_weather": WEATHER_PARAMS, "get_time": TIME["function"]["parameters"]}
ASK: Any = [{"role": "user", "content": "What is the weather in Paris and the time in Tokyo?"}]


def chat(gateway: Gateway, **kw: Any) -> Any:
    return gateway.client().chat.completions.create(
        model=gateway.model,
        messages=kw.pop("messages", ASK),
        tools=kw.pop("tools", [WEATHER, TIME]),
        max_tokens=kw.pop("max_tokens", 100),
        temperature=0,
        **kw,
    )


def verdict(choice: Any) -> dict[str, Any]:
    return dict((choice.model_extra or {})["structured_output"])


def assert_valid_calls(choice: Any, names: set[str]) -> list[Any]:
    """The choice holds only tool calls, each of an allowed name with schema-valid arguments."""
    assert choice.finish_reason == "tool_calls", choice
    calls = choice.message.tool_calls or []
    assert calls and choice.message.content is None
    for call in calls:
        assert call.type == "function" and call.id.startswith("call_")
        assert call.function.name in names
        jsonschema.validate(json.loads(call.function.arguments), SCHEMAS[call.function.name])
    result = verdict(choice)
    assert result["kind"] == "tool_calls" and result["valid"] is True
    assert [c["name"] for c in result["tool_calls"]] == [c.function.name for c in calls]
    return calls


def test_required_gives_valid_calls(gateway: Gateway) -> None:
    [choice] = chat(gateway, tool_choice="required").choices
    assert_valid_calls(choice, {"get_weather", "get_time"})


def test_named_tool_choice_calls_only_that_function(gateway: Gateway) -> None:
    named: Any = {"type": "function", "function": {"name": "get_time"}}
    # one call: given the chance, SmolLM2 repeats the same call until max_tokens
    [choice] = chat(gateway, tool_choice=named, parallel_tool_calls=False).choices
    assert {c.function.name for c in assert_valid_calls(choice, {"get_time"})} == {"get_time"}


def test_parallel_false_gives_exactly_one_call(gateway: Gateway) -> None:
    [choice] = chat(gateway, tool_choice="required", parallel_tool_calls=False).choices
    assert len(assert_valid_calls(choice, {"get_weather", "get_time"})) == 1


def test_parallel_true_allows_several_calls(gateway: Gateway) -> None:
    # the prompt names two calls; whatever the model makes of it, every call is valid
    [choice] = chat(
        gateway, tool_choice="required", parallel_tool_calls=True, max_tokens=90
    ).choices
    if choice.finish_reason == "length":
        pytest.skip("the model wrote more calls than max_tokens holds")
    assert len(assert_valid_calls(choice, {"get_weather", "get_time"})) >= 1


def test_auto_gives_text_or_valid_calls(gateway: Gateway) -> None:
    messages: Any = [{"role": "user", "content": "Say hello."}]
    [choice] = chat(gateway, messages=messages, max_tokens=20).choices
    if choice.message.tool_calls:
        assert_valid_calls(choice, {"get_weather", "get_time"})
    else:
        assert choice.finish_reason in ("stop", "length")
        assert choice.message.content and not choice.message.content.startswith("<")
        assert verdict(choice)["tool_calls"] == []


def test_none_gives_plain_text_without_calls(gateway: Gateway) -> None:
    [choice] = chat(gateway, tool_choice="none", max_tokens=16).choices
    assert not choice.message.tool_calls and choice.message.content
    assert "structured_output" not in (choice.model_extra or {})


def test_strict_tool_with_unenforceable_keyword_is_400(gateway: Gateway) -> None:
    params = {"type": "object", "properties": {"tags": {"type": "array", "uniqueItems": True}}}
    tag: Any = {
        "type": "function",
        "function": {"name": "tag", "parameters": params, "strict": True},
    }
    with pytest.raises(openai.BadRequestError) as info:
        chat(gateway, tools=[WEATHER, tag], tool_choice="required")
    err = info.value.body
    assert isinstance(err, dict) and err["param"] == "tools[1].function.parameters"
    assert "tool 'tag'" in err["message"] and "/properties/tags/uniqueItems" in err["message"]


def test_streamed_deltas_reassemble_to_valid_arguments(gateway: Gateway) -> None:
    stream = chat(gateway, tool_choice="required", stream=True)
    calls: dict[int, dict[str, str]] = {}
    finish, final = None, None
    for chunk in stream:
        if not chunk.choices:
            continue
        choice = chunk.choices[0]
        assert not choice.delta.content
        for entry in choice.delta.tool_calls or []:
            if entry.id is not None:
                assert entry.index not in calls and entry.function and entry.function.name
                calls[entry.index] = {"name": entry.function.name, "args": ""}
            calls[entry.index]["args"] += (entry.function and entry.function.arguments) or ""
        if choice.finish_reason is not None:
            finish, final = choice.finish_reason, verdict(choice)
    assert finish == "tool_calls" and final is not None and final["valid"] is True
    assert sorted(calls) == list(range(len(calls))) and calls
    for call in calls.values():
        jsonschema.validate(json.loads(call["args"]), SCHEMAS[call["name"]])


def test_tool_result_turn_gets_an_answer(gateway: Gateway) -> None:
    messages: Any = [
        *ASK,
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {
                        "name": "get_weather",
                        "arguments": '{"city": "Paris", "unit": "celsius"}',
                    },
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": '{"temperature": 21}'},
    ]
    [choice] = chat(gateway, messages=messages, tool_choice="none", max_tokens=24).choices
    assert choice.message.content and choice.finish_reason in ("stop", "length")
    [again] = chat(gateway, messages=messages, max_tokens=40).choices  # auto: text or calls
    assert verdict(again)["valid"] is not False or again.finish_reason == "length"


class Weather(pydantic.BaseModel):
    city: str = pydantic.Field(max_length=12)
    unit: str


def test_parse_with_pydantic_function_tool(gateway: Gateway) -> None:
    out = gateway.client().chat.completions.parse(
        model=gateway.model,
        messages=ASK,
        tools=[openai.pydantic_function_tool(Weather)],
        tool_choice="required",
        parallel_tool_calls=False,
        max_tokens=100,
        temperature=0,
    )
    calls = out.choices[0].message.tool_calls or []
    assert calls and all(isinstance(c.function.parsed_arguments, Weather) for c in calls)


class Answer(pydantic.BaseModel):
    answer: str = pydantic.Field(max_length=20)


def test_parse_with_response_format_still_works(gateway: Gateway) -> None:
    out = gateway.client().chat.completions.parse(
        model=gateway.model,
        messages=[{"role": "user", "content": "Say hi in JSON."}],
        response_format=Answer,
        max_tokens=40,
        temperature=0,
    )
    assert isinstance(out.choices[0].message.parsed, Answer)


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"tool_choice": {"type": "function", "function": {"name": "nope"}}},
         "tool_choice.function.name"),
        ({"tools": [{"type": "function", "function": {"name": "bad name"}}]},
         "tools[0].function.name"),
        ({"tools": [{"type": "function", "function": {"name": "a", "parameters": []}}]},
         "tools[0].function.parameters"),
        ({"tools": [{"type": "code_interpreter"}]}, "tools[0].type"),
    ],
)  # fmt: skip
def test_bad_tools_are_openai_errors(gateway: Gateway, fields: dict[str, Any], param: str) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        chat(gateway, **fields)
    assert info.value.status_code == 400
    err = info.value.body
    assert (
        isinstance(err, dict) and err["param"] == param and err["type"] == "invalid_request_error"
    )


TRIANGLE: Any = {
    "type": "function",
    "function": {
        "name": "calculate_triangle_area",
        "description": "Calculate the area of a triangle given its base and height.",
        "parameters": {
            "type": "object",
            "properties": {
                "base": {"type": "integer", "description": "The base of the triangle."},
                "height": {"type": "integer", "description": "The height of the triangle."},
            },
            "required": ["base", "height"],
            "additionalProperties": False,
        },
        "strict": True,
    },
}


def test_a_repeated_call_is_sent_once(gateway: Gateway) -> None:
    """BFCL simple_python_0: with more calls allowed, this model writes the same call again
    (greedy, measured); the answer ends there (the gateway reads the engine's stream and closes
    it, `tool_repeat_stop`): the client gets the call once, unary and streamed, and the verdict
    says so."""
    messages: Any = [
        {"role": "user", "content": "Find the area of a triangle with a base of 10 units and "
         "height of 5 units."}
    ]  # fmt: skip
    kw: Any = {"messages": messages, "tools": [TRIANGLE], "tool_choice": "required"}
    answer = chat(gateway, max_tokens=120, **kw)
    [choice] = answer.choices
    calls = [(c.function.name, json.loads(c.function.arguments)) for c in choice.message.tool_calls]
    assert calls == [("calculate_triangle_area", {"base": 10, "height": 5})]
    verdict = choice.model_extra["structured_output"]
    assert verdict["stopped_at_repeat"] is True and verdict["valid"] is True
    assert choice.finish_reason == "tool_calls"
    assert answer.usage is not None and 0 < answer.usage.completion_tokens < 120
    streamed: dict[int, list[str]] = {}
    finals, usage = [], None
    options: Any = {"include_usage": True}
    for chunk in chat(gateway, max_tokens=120, stream=True, stream_options=options, **kw):
        for entry in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
            name = entry.function.name if entry.function and entry.function.name else None
            part = streamed.setdefault(entry.index, [name or "", ""])
            part[1] += (entry.function.arguments or "") if entry.function else ""
        finals += [c for c in chunk.choices if c.finish_reason]
        usage = chunk.usage
    assert [(n, json.loads(a)) for n, a in streamed.values()] == calls
    [final] = finals
    assert final.finish_reason == "tool_calls"
    assert final.model_extra["structured_output"]["stopped_at_repeat"] is True
    assert usage is not None and 0 < usage.completion_tokens < 120
