"""The builtin tool prompt: the exact system block (a contract with the BFCL chat template) and
how calls and results in the history are rendered."""

from __future__ import annotations

import json
from typing import Any

import pytest

from server.errors import InvalidRequest
from server.tools import render_messages, tool_system_block

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather in a city (°C)",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
TIME = {"type": "function", "function": {"name": "get_time"}}

EXPECTED_BLOCK = (
    "You are a function-calling assistant. You may call one or more of the functions below to "
    "answer the user. The functions, as JSON Schema, are inside <tools></tools>:\n"
    "<tools>\n"
    '{"type": "function", "function": {"name": "get_weather", "description": "Weather in a city '
    '(°C)", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}\n'
    '{"type": "function", "function": {"name": "get_time"}}\n'
    "</tools>\n"
    "To call a function, answer with one <tool_call></tool_call> block per call, each holding a "
    "JSON object with the function's name and its arguments:\n"
    "<tool_call>\n"
    '{"name": <function-name>, "arguments": <args-json-object>}\n'
    "</tool_call>"
)


def call(call_id: str, name: str, arguments: str = "{}") -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def test_system_block_is_exactly_the_contract_text() -> None:
    assert tool_system_block([WEATHER, TIME]) == EXPECTED_BLOCK


def test_block_is_inserted_as_first_system_message_without_one() -> None:
    messages = [{"role": "user", "content": "hi"}]
    out = render_messages(messages, [WEATHER, TIME])
    assert out == [{"role": "system", "content": EXPECTED_BLOCK}, messages[0]]
    assert messages == [{"role": "user", "content": "hi"}]  # not modified


@pytest.mark.parametrize("role", ["system", "developer"])
def test_block_is_appended_to_a_leading_system_message(role: str) -> None:
    out = render_messages([{"role": role, "content": "Be brief."}], [WEATHER, TIME])
    assert out == [{"role": role, "content": "Be brief.\n\n" + EXPECTED_BLOCK}]


def test_calls_and_results_in_the_history_render_as_text() -> None:
    messages = [
        {"role": "user", "content": "Weather and time in Paris?"},
        {
            "role": "assistant",
            "content": "Checking.",
            "tool_calls": [call("a", "get_weather", '{"city":"Paris"}'), call("b", "get_time")],
        },
        {"role": "tool", "tool_call_id": "a", "content": "12"},
        {"role": "tool", "tool_call_id": "b", "content": [{"type": "text", "text": "noon"}]},
        {"role": "assistant", "content": None, "tool_calls": [call("c", "get_time")]},
        {"role": "tool", "tool_call_id": "c", "content": "1pm"},
    ]
    out = render_messages(messages, [WEATHER, TIME])
    assert [m["role"] for m in out] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert out[2] == {
        "role": "assistant",
        "content": "Checking.\n"
        '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>\n'
        '<tool_call>\n{"name": "get_time", "arguments": {}}\n</tool_call>',
    }
    assert out[3] == {
        "role": "user",
        "content": "<tool_response>\n12\n</tool_response>\n<tool_response>\nnoon\n</tool_response>",
    }
    assert out[4]["content"] == ('<tool_call>\n{"name": "get_time", "arguments": {}}\n</tool_call>')
    assert out[5] == {"role": "user", "content": "<tool_response>\n1pm\n</tool_response>"}


def test_history_arguments_that_are_not_json_are_a_400_naming_them() -> None:
    messages = [
        {"role": "user", "content": "x"},
        {"role": "assistant", "tool_calls": [call("a", "get_time", "{")]},
    ]
    with pytest.raises(InvalidRequest) as info:
        render_messages(messages, [TIME])
    assert info.value.param == "messages[1].tool_calls[0].function.arguments"


def test_non_ascii_is_kept_as_written() -> None:
    block = tool_system_block([WEATHER])
    assert "(°C)" in block and "\\u00b0" not in block
    assert json.loads(block.split("\n")[2]) == WEATHER
