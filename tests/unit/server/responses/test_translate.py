"""Responses request → chat body (pure functions)."""

from __future__ import annotations

from typing import Any

import pytest

from server.errors import InvalidRequest
from server.responses.chat_body import build_chat_body, responses_param
from server.responses.items import normalize_input
from server.responses.request import parse_responses_request


def chat(body: dict[str, Any]) -> dict[str, Any]:
    req = parse_responses_request({"model": "m", **body})
    return build_chat_body(req, normalize_input(req.input))


def test_string_input_is_one_user_message_and_instructions_lead() -> None:
    out = chat({"input": "hi", "instructions": "be brief", "max_output_tokens": 7})
    assert out["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hi"},
    ]
    assert out["max_tokens"] == 7 and out["stream"] is False and "stream_options" not in out


def test_items_input_with_parts_calls_and_outputs() -> None:
    items = [
        {"role": "developer", "content": "rules"},
        {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": "a"}, {"type": "input_text", "text": "b"}],
        },
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "c"}]},
        {"type": "function_call", "call_id": "call_1", "name": "f", "arguments": "{}"},
        {"type": "function_call", "call_id": "call_2", "name": "g", "arguments": '{"x":1}'},
        {"type": "function_call_output", "call_id": "call_1", "output": "42"},
        {
            "type": "function_call_output",
            "call_id": "call_2",
            "output": [{"type": "input_text", "text": "7"}],
        },
    ]
    out = chat({"input": items, "stream": True})
    assert out["messages"] == [
        {"role": "system", "content": "rules"},
        {"role": "user", "content": "ab"},
        {
            "role": "assistant",
            "content": "c",
            "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}},
                {
                    "id": "call_2",
                    "type": "function",
                    "function": {"name": "g", "arguments": '{"x":1}'},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "42"},
        {"role": "tool", "tool_call_id": "call_2", "content": "7"},
    ]
    assert out["stream_options"] == {"include_usage": True}


def test_normalized_items_have_ids_and_types() -> None:
    items = normalize_input([{"role": "user", "content": "x"}])
    assert items[0]["type"] == "message" and items[0]["id"].startswith("msg_")
    assert items[0]["content"] == [{"type": "input_text", "text": "x"}]


def test_text_formats() -> None:
    assert "response_format" not in chat({"input": "x", "text": {"format": {"type": "text"}}})
    fmt = chat({"input": "x", "text": {"format": {"type": "json_object"}}})["response_format"]
    assert fmt == {"type": "json_object"}
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    spec = {"type": "json_schema", "name": "S", "schema": schema, "strict": True}
    fmt = chat({"input": "x", "text": {"format": spec}})["response_format"]
    assert fmt == {
        "type": "json_schema",
        "json_schema": {"name": "S", "schema": schema, "strict": True},
    }
    spec = {"type": "json_schema", "name": "S", "schema": schema}  # strictness stays as sent
    assert (
        "strict"
        not in chat({"input": "x", "text": {"format": spec}})["response_format"]["json_schema"]
    )


def test_tools_and_tool_choice_take_chat_shapes() -> None:
    tool = {
        "type": "function",
        "name": "f",
        "description": "d",
        "parameters": {"type": "object"},
        "strict": True,
    }
    out = chat(
        {
            "input": "x",
            "tools": [tool],
            "tool_choice": {"type": "function", "name": "f"},
            "parallel_tool_calls": False,
        }
    )
    assert out["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "f",
                "description": "d",
                "parameters": {"type": "object"},
                "strict": True,
            },
        }
    ]
    assert out["tool_choice"] == {"type": "function", "function": {"name": "f"}}
    assert out["parallel_tool_calls"] is False
    for mode in ("auto", "none", "required"):
        assert chat({"input": "x", "tools": [tool], "tool_choice": mode})["tool_choice"] == mode


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"input": 3}, "input"),
        ({"input": []}, "input"),
        ({"input": [{"type": "item_reference", "id": "x"}]}, "input.0.type"),
        ({"input": [{"role": "tool", "content": "x"}]}, "input.0.role"),
        (
            {"input": [{"role": "user", "content": [{"type": "input_image"}]}]},
            "input.0.content.0.type",
        ),
        ({"input": [{"type": "function_call", "name": "f", "arguments": "{}"}]}, "input.0.call_id"),
        ({"input": "x", "text": {"format": {"type": "xml"}}}, "text.format.type"),
        (
            {"input": "x", "text": {"format": {"type": "json_schema", "name": "S"}}},
            "text.format.schema",
        ),
        (
            {"input": "x", "text": {"format": {"type": "json_schema", "schema": {}}}},
            "text.format.name",
        ),
        ({"input": "x", "text": {"format": "json"}}, "text.format"),
        ({"input": "x", "tools": [{"type": "web_search"}]}, "tools.0.type"),
        ({"input": "x", "tools": [{"type": "function"}]}, "tools.0.name"),
        ({"input": "x", "tool_choice": "sometimes"}, "tool_choice"),
        ({"input": "x", "tool_choice": {"type": "file_search"}}, "tool_choice"),
        ({"input": "x", "reasoning": {"effort": "low"}}, "reasoning"),
        ({"input": "x", "background": True}, "background"),
        ({"input": "x", "max_output_tokens": "5"}, "max_output_tokens"),
        ({"input": "x", "temperature": 3}, "temperature"),
        ({"input": "x", "frobnicate": 1}, "frobnicate"),
    ],
)
def test_bad_requests_name_the_parameter(body: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        chat(body)
    assert info.value.param == param, info.value.message


def test_missing_model_names_model() -> None:
    with pytest.raises(InvalidRequest) as info:
        parse_responses_request({"input": "x"})
    assert info.value.param == "model"


def test_chat_params_map_back() -> None:
    assert responses_param("response_format.json_schema.schema") == "text.format.schema"
    assert responses_param("response_format") == "text.format"
    assert responses_param("max_tokens") == "max_output_tokens"
    assert responses_param("messages.2.content") == "input"
    assert responses_param("tools.0.function.parameters") == "tools.0.parameters"
    assert responses_param("model") == "model" and responses_param(None) is None
