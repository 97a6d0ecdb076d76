"""A tools request becomes plain chat + a grammar: for each tool_choice mode the grammar compiles
and accepts exactly the outputs the mode allows; bad tool fields are 400s naming the param."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from grammar import llg
from server.errors import InvalidRequest
from server.structured import StructuredService
from server.tools import ToolPlan, plan_tools, tool_system_block

WEATHER_PARAMS = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "maxLength": 20},
        "unit": {"enum": ["c", "f"]},
    },
    "required": ["city"],
}
WEATHER = {"type": "function", "function": {"name": "get_weather", "parameters": WEATHER_PARAMS}}
TIME = {"type": "function", "function": {"name": "get_time"}}  # no parameters: {}
TOOLS = [WEATHER, TIME]

W = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'
W_UNIT = W.replace('"Paris"', '"Oslo", "unit": "c"')
T = '<tool_call>\n{"name": "get_time", "arguments": {}}\n</tool_call>'
BAD_ARGS = '<tool_call>\n{"name": "get_weather", "arguments": {"unit": "c"}}\n</tool_call>'
UNKNOWN = '<tool_call>\n{"name": "get_date", "arguments": {}}\n</tool_call>'
COMPACT = '<tool_call>\n{"name": "get_time", "arguments": {}}\n</tool_call>'.replace(": ", ":")


def body(**fields: Any) -> dict[str, Any]:
    return {"model": "m", "messages": [{"role": "user", "content": "hi"}], "tools": TOOLS, **fields}


def plan(service: StructuredService, b: dict[str, Any], **kw: Any) -> Any:
    return plan_tools(b, service.checker, service.limits, **kw)


# (tool_choice, parallel_tool_calls) -> outputs accepted, outputs rejected
MODES: dict[str, tuple[dict[str, Any], list[str], list[str]]] = {
    "auto": ({}, [W, T, W + "\n" + T, "It is sunny.", "a <tool_call>"],
             ["<b>", BAD_ARGS, UNKNOWN, "", W + "\nthen text", COMPACT]),
    "required": ({"tool_choice": "required"}, [W, W_UNIT, T + "\n" + W + "\n" + T],
                 ["It is sunny.", BAD_ARGS, W + "\n"]),
    "named": ({"tool_choice": {"type": "function", "function": {"name": "get_time"}}},
              [T, T + "\n" + T], [W, "It is sunny."]),
    "single": ({"tool_choice": "required", "parallel_tool_calls": False}, [W, T],
               [W + "\n" + T, "x"]),
    "auto single": ({"parallel_tool_calls": False}, [W, "Hi"], [W + "\n" + T]),
}  # fmt: skip


@pytest.mark.parametrize("mode", MODES)
def test_grammar_of_each_mode_accepts_exactly_its_outputs(
    service: StructuredService, mode: str
) -> None:
    fields, good, bad = MODES[mode]
    b = body(**fields)
    p = plan(service, b)
    assert isinstance(p, ToolPlan)
    grammar = b["structured_outputs"]["grammar"]
    assert service.checker.compile("grammar", grammar).error is None
    tok = llg.byte_tokenizer()
    for text in good:
        assert llg.match(tok, "grammar", grammar, text) == (True, ""), text
        assert p.check(text, "stop")["valid"] is True, text
    for text in bad:
        assert llg.match(tok, "grammar", grammar, text)[0] is False, text
        assert p.check(text, "stop")["valid"] is False, text


def test_forwarded_body_is_plain_chat_with_the_builtin_prompt(service: StructuredService) -> None:
    b = body(tool_choice="required", parallel_tool_calls=True)
    plan(service, b)
    assert set(b) == {"model", "messages", "structured_outputs"}
    assert b["messages"][0] == {"role": "system", "content": tool_system_block(TOOLS)}
    assert b["messages"][1] == {"role": "user", "content": "hi"}


def test_model_prompt_forwards_tools_with_tool_choice_none(service: StructuredService) -> None:
    b = body(tool_choice="required", parallel_tool_calls=False)
    plan(service, b, tool_prompt="model")
    assert b["tools"] == TOOLS and b["tool_choice"] == "none"
    assert "parallel_tool_calls" not in b and b["messages"] == [{"role": "user", "content": "hi"}]
    assert "grammar" in b["structured_outputs"]


def test_tool_choice_none_renders_tools_and_adds_no_grammar(service: StructuredService) -> None:
    b = body(tool_choice="none")
    assert plan(service, b) is None
    assert "structured_outputs" not in b and "tools" not in b
    assert b["messages"][0]["content"] == tool_system_block(TOOLS)


def test_tool_choice_none_keeps_response_format(service: StructuredService) -> None:
    fmt = {"type": "json_schema", "json_schema": {"name": "a", "schema": {"type": "object"}}}
    b = body(tool_choice="none", response_format=fmt)
    p = plan(service, b)
    assert p is not None and p.kind == "json_schema" and "response_format" in b


def test_auto_with_response_format_makes_the_text_branch_that_schema(
    service: StructuredService,
) -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}
    fmt = {"type": "json_schema", "json_schema": {"name": "a", "schema": schema, "strict": True}}
    b = body(response_format=fmt)
    p = plan(service, b)
    assert isinstance(p, ToolPlan) and "response_format" not in b
    grammar = b["structured_outputs"]["grammar"]
    tok = llg.byte_tokenizer()
    assert llg.matches(tok, "grammar", grammar, '{"a":1}')
    assert not llg.matches(tok, "grammar", grammar, "It is sunny.")
    assert llg.matches(tok, "grammar", grammar, W)
    assert p.check('{"a":1}', "stop")["valid"] is True
    assert p.check('{"a":"x"}', "stop")["finish_reason"] == "schema_violation"


def test_strict_tool_with_unenforceable_keyword_is_a_400_naming_tool_and_pointer(
    service: StructuredService,
) -> None:
    params = {"type": "object", "properties": {"tags": {"type": "array", "uniqueItems": True}}}
    strict = {"type": "function", "function": {"name": "tag", "parameters": params, "strict": True}}
    with pytest.raises(InvalidRequest) as info:
        plan(service, body(tools=[WEATHER, TIME, strict]))
    assert info.value.param == "tools[2].function.parameters"
    assert info.value.code == "unsupported_schema_keywords"
    assert "tool 'tag'" in info.value.message
    assert "uniqueItems at /properties/tags/uniqueItems" in info.value.message


def test_non_strict_tool_lists_what_was_not_enforced(service: StructuredService) -> None:
    params = {"type": "object", "properties": {"tags": {"type": "array", "uniqueItems": True}}}
    loose = {"type": "function", "function": {"name": "tag", "parameters": params}}
    p = plan(service, body(tools=[loose], tool_choice="required"))
    assert p is not None
    assert [(u["keyword"], u["param"]) for u in p.unenforced] == [
        ("uniqueItems", "tools[0].function.parameters")
    ]
    text = '<tool_call>\n{"name": "tag", "arguments": {"tags": [1, 1]}}\n</tool_call>'
    verdict = p.check(text, "stop")
    assert verdict["valid"] is False and verdict["finish_reason"] == "schema_violation"
    assert verdict["errors"][0]["pointer"] == "/tool_calls/0/arguments/tags"
    assert verdict["tool_calls"][0]["unenforced"][0]["keyword"] == "uniqueItems"


def test_verdict_has_one_entry_per_call_and_finish_reason_tool_calls(
    service: StructuredService,
) -> None:
    p = plan(service, body(tool_choice="required"))
    verdict = p.check(W + "\n" + T, "stop")
    assert verdict["kind"] == "tool_calls" and verdict["finish_reason"] == "tool_calls"
    assert [(c["index"], c["name"], c["valid"]) for c in verdict["tool_calls"]] == [
        (0, "get_weather", True),
        (1, "get_time", True),
    ]
    truncated = p.check(W[:40], "length")
    assert truncated["finish_reason"] == "length" and truncated["valid"] is False


def test_verdict_validates_against_the_clients_schema_not_the_rewrite(
    service: StructuredService,
) -> None:
    p = plan(service, body(tool_choice="required"))
    # the forwarded grammar closes the object; the client's schema allows extra keys
    extra = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "P", "x": 1}}\n</tool_call>'
    assert p.check(extra, "stop")["valid"] is True


BAD: list[tuple[dict[str, Any], str]] = [
    ({"tools": []}, "tools"),
    ({"tools": "x"}, "tools"),
    ({"tools": [TIME] * 129}, "tools"),
    ({"tools": [WEATHER, 3]}, "tools[1]"),
    ({"tools": [{"type": "retrieval", "function": {"name": "a"}}]}, "tools[0].type"),
    ({"tools": [{"type": "function"}]}, "tools[0].function"),
    ({"tools": [{"type": "function", "function": {}}]}, "tools[0].function.name"),
    ({"tools": [{"type": "function", "function": {"name": "a b"}}]}, "tools[0].function.name"),
    ({"tools": [{"type": "function", "function": {"name": "a", "parameters": []}}]},
     "tools[0].function.parameters"),
    ({"tools": [{"type": "function", "function": {"name": "a", "strict": "yes"}}]},
     "tools[0].function.strict"),
    ({"tools": [WEATHER, TIME, WEATHER]}, "tools[2].function.name"),
    ({"tool_choice": "sometimes"}, "tool_choice"),
    ({"tool_choice": {"type": "function", "function": {"name": "nope"}}},
     "tool_choice.function.name"),
    ({"tool_choice": {"type": "function"}}, "tool_choice.function.name"),
    ({"parallel_tool_calls": "no"}, "parallel_tool_calls"),
    ({"tools": None, "tool_choice": "auto"}, "tool_choice"),
    ({"tools": [{"type": "function", "function": {"name": "a", "parameters":
      {"type": "string"}}}]}, "tools[0].function.parameters"),
    ({"tools": [{"type": "function", "function": {"name": "a", "parameters":
      {"type": "object", "properties": {"a": {"type": "nope"}}}}}]},
     "tools[0].function.parameters"),
    ({"structured_outputs": {"regex": "a"}}, "structured_outputs"),
    ({"echo": True}, "echo"),
]  # fmt: skip


@pytest.mark.parametrize(("fields", "param"), BAD, ids=[p for _, p in BAD])
def test_bad_tool_fields_are_400s_naming_the_param(
    service: StructuredService, fields: dict[str, Any], param: str
) -> None:
    b = body(**fields)
    before = copy.deepcopy(b)
    with pytest.raises(InvalidRequest) as info:
        plan(service, b)
    assert info.value.param == param, info.value.message
    assert info.value.status_code == 400
    assert b == before  # nothing forwarded half-rewritten
