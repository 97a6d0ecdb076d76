"""Prompt parity: vLLM direct's tool template renders exactly what structserve forwards."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bench.bfcl_prompt import (
    TEMPLATE,
    forwarded_messages,
    gateway_renderer,
    reproduced_messages,
    tool_system_block,
)
from bench.bfcl_tools import to_tools
from tests.prereq import require_default_model
from tests.unit.bench.bfcl_fixtures import AREA

TOOLS = to_tools([AREA, {**AREA, "name": "größe", "description": 'Quote " and \\ and\nline'}])
USER = {"role": "user", "content": "Area for base 3, height 2?"}


def test_block_text() -> None:
    block = tool_system_block(TOOLS)
    lines = block.split("\n")
    assert lines[0].startswith("You are a function-calling assistant. You may call one or more")
    assert lines[1] == "<tools>"
    assert lines[2] == json.dumps(TOOLS[0], ensure_ascii=False)
    assert lines[3] == json.dumps(TOOLS[1], ensure_ascii=False)
    assert "größe" in lines[3]
    assert lines[4] == "</tools>"
    assert lines[6:] == [
        "<tool_call>",
        '{"name": <function-name>, "arguments": <args-json-object>}',
        "</tool_call>",
    ]


SINGLE_TURNS = [
    [USER],
    [{"role": "system", "content": "Be brief."}, USER],
    [{"role": "developer", "content": "Be brief."}, USER],
]


def test_reproduced_messages_insert_or_append_the_block() -> None:
    block = tool_system_block(TOOLS)
    assert reproduced_messages([USER], TOOLS) == [{"role": "system", "content": block}, USER]
    system = {"role": "system", "content": "Be brief."}
    assert reproduced_messages([system, USER], TOOLS) == [
        {"role": "system", "content": "Be brief.\n\n" + block},
        USER,
    ]
    assert system == {"role": "system", "content": "Be brief."}  # not modified
    developer = reproduced_messages(SINGLE_TURNS[2], TOOLS)[0]
    assert developer == {"role": "developer", "content": "Be brief.\n\n" + block}
    assert reproduced_messages([USER], []) == [USER]


@pytest.mark.parametrize("messages", SINGLE_TURNS)
def test_reproduction_agrees_with_the_gateway(messages: list[Any]) -> None:
    render = gateway_renderer()
    if render is None:
        pytest.skip("this build has no server.tools (tool calling not merged)")
    assert render(messages, TOOLS) == reproduced_messages(messages, TOOLS)
    assert forwarded_messages(messages, TOOLS) == render(messages, TOOLS)


@pytest.fixture(scope="module")
def render() -> Any:
    """(tool template, the model's own template), compiled as vLLM compiles them."""
    folder = require_default_model()
    from transformers.utils.chat_template_utils import _compile_jinja_template

    own = (folder / "chat_template.jinja").read_text()
    return _compile_jinja_template(TEMPLATE.read_text()), _compile_jinja_template(own)


@pytest.mark.parametrize(
    "messages",
    [
        *SINGLE_TURNS,
        [USER, {"role": "assistant", "content": "Which unit?"}, {"role": "user", "content": "cm"}],
    ],
)
def test_template_matches_the_gateway_rendering(render: Any, messages: list[Any]) -> None:
    tools_template, own = render
    with_tools = tools_template.render(messages=messages, tools=TOOLS, add_generation_prompt=True)
    plain = own.render(messages=forwarded_messages(messages, TOOLS), add_generation_prompt=True)
    assert with_tools == plain
    no_tools = tools_template.render(messages=messages, add_generation_prompt=True)
    assert no_tools == own.render(messages=messages, add_generation_prompt=True)


def test_template_renders_calls_and_results(render: Any) -> None:
    tools_template, _ = render
    call = {"function": {"name": "geometry_area", "arguments": {"base": 3, "height": 2.0}}}
    messages: list[dict[str, Any]] = [
        USER,
        {"role": "assistant", "content": None, "tool_calls": [call, call]},
        {"role": "tool", "content": "3.0", "tool_call_id": "c1"},
        {"role": "tool", "content": "4.0", "tool_call_id": "c2"},
        {"role": "assistant", "content": "Done", "tool_calls": [call]},
        {"role": "tool", "content": "5.0", "tool_call_id": "c3"},
    ]
    text = tools_template.render(messages=messages, tools=TOOLS, add_generation_prompt=False)
    call_json = '{"name": "geometry_area", "arguments": {"base": 3, "height": 2.0}}'
    block = f"<tool_call>\n{call_json}\n</tool_call>"
    assert f"<|im_start|>assistant\n{block}\n{block}<|im_end|>\n" in text
    both = "<tool_response>\n3.0\n</tool_response>\n<tool_response>\n4.0\n</tool_response>"
    assert f"<|im_start|>user\n{both}<|im_end|>\n" in text  # a run of results: one turn
    assert f"<|im_start|>assistant\nDone\n{block}<|im_end|>\n" in text
    assert text.endswith("<|im_start|>user\n<tool_response>\n5.0\n</tool_response><|im_end|>\n")
    render_gateway = gateway_renderer()
    if render_gateway is not None:  # the gateway's own rendering, framed by the model template
        _, own = render
        string_args = [{**m, "tool_calls": [{"function": {**c["function"], "arguments":
                        json.dumps(c["function"]["arguments"])}} for c in m["tool_calls"]]}
                       if m.get("tool_calls") else m for m in messages]  # fmt: skip
        plain = render_gateway(string_args, TOOLS)
        assert own.render(messages=plain, add_generation_prompt=False) == text
