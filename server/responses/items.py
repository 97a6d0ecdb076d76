"""Input items of a Responses request: checked and normalized, then turned into chat messages.

Normalized items (what is stored and what `GET /v1/responses/{id}/input_items` lists):
- `{"type": "message", "id", "role", "content": [{"type": "input_text"|"output_text", "text"}]}`
- `{"type": "function_call", "id", "call_id", "name", "arguments"}`
- `{"type": "function_call_output", "id", "call_id", "output"}`
Output items of an earlier response (a stored conversation) have the same shapes.
"""

from __future__ import annotations

import json
from typing import Any

from server.errors import InvalidRequest
from server.responses.ids import new_id

ROLES = ("user", "system", "developer", "assistant")
TEXT_PARTS = ("input_text", "output_text")


def normalize_input(value: str | list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Check a request's `input` and return its normalized items.

    Args:
        value: a string (one user message) or a list of items.

    Returns:
        The normalized items, each with an id.

    Raises:
        InvalidRequest: an item of an unknown or unsupported type, or missing fields; the param
            names it (`input.3.content.0.type`).
    """
    if isinstance(value, str):
        return [_message("user", [{"type": "input_text", "text": value}])]
    if not value:
        raise InvalidRequest("input: must not be an empty list", param="input")
    return [_normalize_item(item, f"input.{i}") for i, item in enumerate(value)]


def _normalize_item(item: dict[str, Any], param: str) -> dict[str, Any]:
    kind = item.get("type", "message" if "role" in item else None)
    if kind == "message":
        return _normalize_message(item, param)
    if kind == "function_call":
        call_id, name = _text(item, "call_id", param), _text(item, "name", param)
        arguments = _text(item, "arguments", param)
        item_id = item.get("id") if isinstance(item.get("id"), str) else new_id("fc")
        fields = {"call_id": call_id, "name": name, "arguments": arguments}
        return {"type": "function_call", "id": item_id, **fields}
    if kind == "function_call_output":
        output = item.get("output")
        if isinstance(output, list):
            output = _join_parts(output, f"{param}.output")
        if not isinstance(output, str):
            raise InvalidRequest(f"{param}.output: must be a string", param=f"{param}.output")
        call_id = _text(item, "call_id", param)
        return {
            "type": "function_call_output",
            "id": new_id("fco"),
            "call_id": call_id,
            "output": output,
        }
    raise InvalidRequest(
        f"{param}.type: unsupported input item type {kind!r} (supported: message, "
        "function_call, function_call_output)",
        param=f"{param}.type",
    )


def _normalize_message(item: dict[str, Any], param: str) -> dict[str, Any]:
    role = item.get("role")
    if role not in ROLES:
        raise InvalidRequest(
            f"{param}.role: must be one of {', '.join(ROLES)}", param=f"{param}.role"
        )
    content = item.get("content")
    part_type = "output_text" if role == "assistant" else "input_text"
    if isinstance(content, str):
        return _message(role, [{"type": part_type, "text": content}])
    if not isinstance(content, list):
        raise InvalidRequest(
            f"{param}.content: must be a string or a list of content parts",
            param=f"{param}.content",
        )
    return _message(role, [_part(p, f"{param}.content.{j}") for j, p in enumerate(content)])


def _part(part: Any, param: str) -> dict[str, Any]:
    kind = part.get("type") if isinstance(part, dict) else None
    if kind not in TEXT_PARTS and kind != "refusal":
        raise InvalidRequest(
            f"{param}.type: unsupported content part {kind!r} (supported: input_text, "
            "output_text; images, files and audio are not)",
            param=f"{param}.type",
        )
    if kind == "refusal":
        return {"type": "output_text", "text": _text(part, "refusal", param)}
    return {"type": kind, "text": _text(part, "text", param)}


def _message(role: str, content: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "message", "id": new_id("msg"), "role": role, "content": content}


def _text(item: dict[str, Any], key: str, param: str) -> str:
    value = item.get(key)
    if not isinstance(value, str):
        raise InvalidRequest(f"{param}.{key}: must be a string", param=f"{param}.{key}")
    return value


def _join_parts(parts: list[Any], param: str) -> str:
    return "".join(_part(p, f"{param}.{j}")["text"] for j, p in enumerate(parts))


def to_chat_messages(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Turn normalized items (a conversation's replayed items included) into chat messages.

    Function calls join the assistant message before them (or start one), as in OpenAI's chat
    API; a function call output becomes a `tool` message; developer messages become system
    messages (chat templates of small models know no developer role).

    Args:
        items: normalized input or output items.

    Returns:
        The chat `messages`.
    """
    messages: list[dict[str, Any]] = []
    for item in items:
        kind = item.get("type")
        if kind == "message":
            role = "system" if item["role"] == "developer" else item["role"]
            text = "".join(str(p.get("text", "")) for p in item.get("content", []))
            messages.append({"role": role, "content": text})
        elif kind == "function_call":
            call = {
                "id": item["call_id"],
                "type": "function",
                "function": {"name": item["name"], "arguments": item["arguments"]},
            }
            last = messages[-1] if messages else None
            if last is None or last["role"] != "assistant":
                last = {"role": "assistant", "content": None}
                messages.append(last)
            last.setdefault("tool_calls", []).append(call)
        elif kind == "function_call_output":
            output = item["output"]
            text = output if isinstance(output, str) else json.dumps(output)
            messages.append({"role": "tool", "tool_call_id": item["call_id"], "content": text})
    return messages
