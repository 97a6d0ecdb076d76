"""The builtin tool prompt: tools described in the system message, tool calls and results
rendered as plain text, so any chat template frames them (docs/tools.md).

The wording of `tool_system_block` is a contract: the BFCL benchmark's chat template reproduces
it byte for byte. Change it only together with that template.
"""

from __future__ import annotations

import json
from typing import Any

from server.errors import InvalidRequest

HEADER = (
    "You are a function-calling assistant. You may call one or more of the functions below to "
    "answer the user. The functions, as JSON Schema, are inside <tools></tools>:\n<tools>\n"
)
FOOTER = (
    "</tools>\n"
    "To call a function, answer with one <tool_call></tool_call> block per call, each holding a "
    "JSON object with the function's name and its arguments:\n"
    "<tool_call>\n"
    '{"name": <function-name>, "arguments": <args-json-object>}\n'
    "</tool_call>"
)
LEADING_ROLES = ("system", "developer")


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def tool_system_block(tools: list[dict[str, Any]]) -> str:
    """The system-prompt block that offers `tools` to the model.

    Args:
        tools: the client's tools, each `{"type": "function", "function": {...}}` as sent.

    Returns:
        The block: header, one JSON line per tool inside <tools></tools>, the call syntax.
    """
    return HEADER + "".join(_dumps(tool) + "\n" for tool in tools) + FOOTER


def call_block(name: str, arguments: Any) -> str:
    """One `<tool_call>` block as the builtin prompt shows calls (arguments a JSON value)."""
    return "<tool_call>\n" + _dumps({"name": name, "arguments": arguments}) + "\n</tool_call>"


def render_messages(messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> list[dict]:
    """The conversation as plain chat messages carrying the builtin tool prompt.

    Args:
        messages: the client's messages (not modified).
        tools: the client's tools.

    Returns:
        New messages: the tool block appended to a leading system/developer message (after a
        blank line) or inserted as a first system message; assistant `tool_calls` rendered as
        `<tool_call>` blocks in the content; runs of `tool` messages merged into one `user`
        message of `<tool_response>` blocks.

    Raises:
        InvalidRequest: a tool call whose arguments are not JSON, or non-text content parts.
    """
    block = tool_system_block(tools)
    out: list[dict[str, Any]] = []
    in_run = False  # the last message out is a merged run of tool responses
    for index, message in enumerate(messages):
        role = message.get("role")
        if index == 0 and role in LEADING_ROLES:
            text = _text(message.get("content"), param=f"messages[{index}].content")
            out.append({**message, "content": f"{text}\n\n{block}"})
            continue
        if index == 0:
            out.append({"role": "system", "content": block})
        if role == "tool":
            response = _response_block(message, index)
            if in_run:
                out[-1]["content"] += "\n" + response
            else:
                out.append({"role": "user", "content": response})
        elif role == "assistant" and message.get("tool_calls"):
            out.append(_assistant(message, index))
        else:
            out.append(message)
        in_run = role == "tool"
    return out


def _response_block(message: dict[str, Any], index: int) -> str:
    content = _text(message.get("content"), param=f"messages[{index}].content")
    return f"<tool_response>\n{content}\n</tool_response>"


def _assistant(message: dict[str, Any], index: int) -> dict[str, Any]:
    calls = message["tool_calls"]
    where = f"messages[{index}].tool_calls"
    if not isinstance(calls, list):
        raise InvalidRequest(f"{where} must be an array", param=where)
    content = _text(message.get("content"), param=f"messages[{index}].content")
    parts = [content] if content else []
    for j, call in enumerate(calls):
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise InvalidRequest(
                f"{where}[{j}] must be a function call with a name", param=f"{where}[{j}]"
            )
        parts.append(call_block(function["name"], _arguments(function, f"{where}[{j}]")))
    kept = {k: v for k, v in message.items() if k not in ("tool_calls", "function_call")}
    return {**kept, "content": "\n".join(parts)}


def _arguments(function: dict[str, Any], where: str) -> Any:
    arguments = function.get("arguments", "{}")
    if not isinstance(arguments, str):
        return arguments  # already a JSON value
    try:
        return json.loads(arguments)
    except ValueError as exc:
        param = f"{where}.function.arguments"
        raise InvalidRequest(f"{param} is not valid JSON: {exc}", param=param) from None


def _text(content: Any, *, param: str) -> str:
    """A message's content as text (text parts joined by newlines)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    texts = []
    for part in content:
        if not isinstance(part, dict) or part.get("type") != "text":
            raise InvalidRequest("only text content parts can be rendered with tools", param=param)
        texts.append(str(part.get("text", "")))
    return "\n".join(texts)
