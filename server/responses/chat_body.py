"""A Responses request → the chat-completions body the gateway's chat path runs.

`text.format` becomes `response_format` (so the structured-output policy, strictness included,
is the chat path's), function `tools` and `tool_choice` take the chat shapes, and
`max_output_tokens` becomes `max_tokens`. Errors the chat path raises name chat parameters;
`responses_param` maps them back to the Responses request's.
"""

from __future__ import annotations

from typing import Any

from server.errors import InvalidRequest
from server.responses.items import to_chat_messages
from server.responses.request import ResponsesRequest

CHAT_ROUTE = "/v1/chat/completions"
# chat parameter prefix -> Responses parameter prefix (longest first)
_PARAMS = (
    ("response_format.json_schema.schema", "text.format.schema"),
    ("response_format.json_schema", "text.format"),
    ("response_format", "text.format"),
    ("max_tokens", "max_output_tokens"),
)


def build_chat_body(req: ResponsesRequest, items: list[dict[str, Any]]) -> dict[str, Any]:
    """The chat-completions body for a request whose whole input is `items`.

    Args:
        req: the validated request (its instructions become the leading system message).
        items: normalized items: a replayed conversation, then this request's input.

    Returns:
        The chat body (`stream_options.include_usage` set when streaming).

    Raises:
        InvalidRequest: a bad `text.format`, `tools` or `tool_choice` (naming the parameter).
    """
    messages = to_chat_messages(items)
    if req.instructions:
        messages.insert(0, {"role": "system", "content": req.instructions})
    body: dict[str, Any] = {"model": req.model, "messages": messages, "stream": req.stream}
    optional = {
        "max_tokens": req.max_output_tokens,
        "temperature": req.temperature,
        "top_p": req.top_p,
        "parallel_tool_calls": req.parallel_tool_calls,
        "user": req.user,
        "response_format": chat_response_format(text_format(req)),
    }
    body.update({k: v for k, v in optional.items() if v is not None})
    if req.tools:
        body["tools"] = [chat_tool(t, f"tools.{i}") for i, t in enumerate(req.tools)]
    if req.tool_choice is not None:
        body["tool_choice"] = chat_tool_choice(req.tool_choice)
    if req.stream:
        body["stream_options"] = {"include_usage": True}
    return body


def text_format(req: ResponsesRequest) -> dict[str, Any]:
    """The request's `text.format` (default `{"type": "text"}`), checked.

    Raises:
        InvalidRequest: not an object, an unknown type, or a json_schema without a schema.
    """
    text = req.text or {}
    fmt = text.get("format", {"type": "text"})
    if not isinstance(fmt, dict):
        raise InvalidRequest("text.format: must be an object", param="text.format")
    kind = fmt.get("type")
    if kind not in ("text", "json_object", "json_schema"):
        raise InvalidRequest(
            f"text.format.type: unsupported format {kind!r} (text, json_object, json_schema)",
            param="text.format.type",
        )
    if kind == "json_schema":
        if not isinstance(fmt.get("schema"), dict):
            raise InvalidRequest(
                "text.format.schema: a json_schema format needs a `schema` object",
                param="text.format.schema",
            )
        if not isinstance(fmt.get("name"), str) or not fmt["name"]:
            raise InvalidRequest(
                "text.format.name: a json_schema format needs a `name`", param="text.format.name"
            )
        if fmt.get("strict") not in (None, True, False):
            raise InvalidRequest(
                "text.format.strict: must be a boolean", param="text.format.strict"
            )
    return fmt


def chat_response_format(fmt: dict[str, Any]) -> dict[str, Any] | None:
    """Chat's `response_format` for a checked Responses `text.format` (None for plain text)."""
    kind = fmt["type"]
    if kind == "text":
        return None
    if kind == "json_object":
        return {"type": "json_object"}
    spec = {k: fmt[k] for k in ("name", "schema", "strict", "description") if k in fmt}
    return {"type": "json_schema", "json_schema": spec}


def chat_tool(tool: dict[str, Any], param: str) -> dict[str, Any]:
    """A Responses function tool → chat's `{"type": "function", "function": {...}}`.

    Raises:
        InvalidRequest: a built-in tool (web_search, file_search, ...) or a nameless function.
    """
    kind = tool.get("type")
    if kind != "function":
        raise InvalidRequest(
            f"{param}.type: tool type {kind!r} is not supported (only function tools; built-in "
            "tools such as web_search, file_search, code_interpreter are not)",
            param=f"{param}.type",
        )
    name = tool.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidRequest(f"{param}.name: a function tool needs a name", param=f"{param}.name")
    function = {"name": name}
    for key in ("description", "parameters", "strict"):
        if tool.get(key) is not None:
            function[key] = tool[key]
    return {"type": "function", "function": function}


def chat_tool_choice(choice: str | dict[str, Any]) -> str | dict[str, Any]:
    """A Responses `tool_choice` → chat's ("auto"/"none"/"required", or a named function).

    Raises:
        InvalidRequest: any other mode, or a hosted tool.
    """
    if isinstance(choice, str):
        if choice in ("auto", "none", "required"):
            return choice
        raise InvalidRequest(
            f"tool_choice: unsupported mode {choice!r} (auto, none, required)",
            param="tool_choice",
        )
    name = choice.get("name")
    if choice.get("type") != "function" or not isinstance(name, str) or not name:
        raise InvalidRequest(
            "tool_choice: only {'type': 'function', 'name': ...} is supported as an object",
            param="tool_choice",
        )
    return {"type": "function", "function": {"name": name}}


def responses_param(param: str | None) -> str | None:
    """The Responses parameter a chat parameter named in an error came from."""
    if param is None:
        return None
    if param == "messages" or param.startswith("messages."):
        return "input"  # chat message indexes do not match input item indexes
    for chat, responses in _PARAMS:
        if param == chat or param.startswith(chat + "."):
            return responses + param[len(chat) :]
    if param.startswith("tools.") and ".function." in param:
        return param.replace(".function.", ".", 1)
    return param
