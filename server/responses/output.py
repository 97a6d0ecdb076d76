"""A chat-completions answer → the Responses object (OpenAI's shape).

Status: finish_reason "length" → "incomplete" with `incomplete_details.reason`
"max_output_tokens"; "schema_violation" (the gateway's structured-output verdict found the output
invalid) → "incomplete" with reason "schema_violation"; "content_filter" → "incomplete"; else
"completed". The structured-output verdict (the chat choice's `structured_output`) rides on the
message output item as `structured_output`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from server.responses.chat_body import text_format
from server.responses.ids import new_id
from server.responses.request import ResponsesRequest

_INCOMPLETE = {
    "length": "max_output_tokens",
    "schema_violation": "schema_violation",
    "content_filter": "content_filter",
}


@dataclass(frozen=True)
class Outcome:
    """How a generation ended: the response's status and, when incomplete, why."""

    status: str  # "completed" | "incomplete" | "failed" | "in_progress"
    incomplete_reason: str | None = None
    error: dict[str, Any] | None = None  # {"code", "message"} when failed

    @classmethod
    def from_finish(cls, finish_reasons: list[str | None]) -> Outcome:
        """The outcome of a chat choice that finished with these reasons (first that counts)."""
        for reason in finish_reasons:
            if reason in _INCOMPLETE:
                return cls("incomplete", _INCOMPLETE[reason])
        return cls("completed")

    @property
    def item_status(self) -> str:
        """The status of the output items ("completed" or "incomplete")."""
        return "incomplete" if self.status in ("incomplete", "failed") else self.status


def message_item(
    text: str, status: str, *, item_id: str | None = None, verdict: dict[str, Any] | None = None
) -> dict[str, Any]:
    """An assistant `message` output item holding one output_text part."""
    part = {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
    item: dict[str, Any] = {
        "id": item_id or new_id("msg"),
        "type": "message",
        "role": "assistant",
        "status": status,
        "content": [part],
    }
    if verdict is not None:
        item["structured_output"] = verdict
    return item


def function_call_item(
    call_id: str, name: str, arguments: str, status: str, *, item_id: str | None = None
) -> dict[str, Any]:
    """A `function_call` output item (call_id: the chat tool call's id)."""
    return {
        "id": item_id or new_id("fc"),
        "type": "function_call",
        "status": status,
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
    }


def output_from_choice(choice: dict[str, Any], outcome: Outcome) -> list[dict[str, Any]]:
    """The output items of a whole chat choice: its text (when there is any, or when there are
    no tool calls) as a message, then one function_call item per tool call.

    Args:
        choice: `choices[0]` of a chat completion (`message.content`, `message.tool_calls`).
        outcome: the response's outcome (gives the items' status).

    Returns:
        The output items.
    """
    message = choice.get("message") or {}
    text = message.get("content") or ""
    calls = message.get("tool_calls") or []
    items: list[dict[str, Any]] = []
    if text or not calls:
        verdict = choice.get("structured_output")
        items.append(message_item(text, outcome.item_status, verdict=verdict))
    for call in calls:
        function = call.get("function") or {}
        call_id = str(call.get("id") or new_id("call"))
        name, arguments = str(function.get("name") or ""), str(function.get("arguments") or "")
        items.append(function_call_item(call_id, name, arguments, "completed"))
    return items


def usage_from_chat(usage: dict[str, Any] | None) -> dict[str, Any] | None:
    """Chat usage (prompt/completion tokens) → Responses usage (input/output tokens)."""
    if not isinstance(usage, dict):
        return None
    prompt = int(usage.get("prompt_tokens") or 0)
    completion = int(usage.get("completion_tokens") or 0)
    cached = int((usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0)
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": cached, "cache_write_tokens": 0},
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": int(usage.get("total_tokens") or prompt + completion),
    }


def response_object(
    req: ResponsesRequest,
    *,
    response_id: str,
    created_at: int,
    outcome: Outcome,
    output: list[dict[str, Any]],
    usage: dict[str, Any] | None,
) -> dict[str, Any]:
    """The Responses object for `req` (OpenAI's fields; `output_text` is the SDK's to compute).

    Args:
        req: the validated request (its settings are echoed).
        response_id: "resp_…".
        created_at: Unix seconds.
        outcome: status, incomplete reason, error.
        output: the output items.
        usage: Responses usage, None while in progress.

    Returns:
        The JSON-ready response object.
    """
    incomplete = (
        {"reason": outcome.incomplete_reason} if outcome.incomplete_reason is not None else None
    )
    return {
        "id": response_id,
        "object": "response",
        "created_at": created_at,
        "status": outcome.status,
        "background": False,
        "error": outcome.error,
        "incomplete_details": incomplete,
        "instructions": req.instructions,
        "max_output_tokens": req.max_output_tokens,
        "model": req.model,
        "output": output,
        "parallel_tool_calls": req.parallel_tool_calls is not False,
        "previous_response_id": req.previous_response_id,
        "reasoning": None,
        "store": req.store,
        "temperature": req.temperature,
        "text": {"format": text_format(req)},
        "tool_choice": req.tool_choice if req.tool_choice is not None else "auto",
        "tools": req.tools or [],
        "top_p": req.top_p,
        "truncation": "disabled",
        "usage": usage,
        "user": req.user,
        "metadata": req.metadata or {},
    }
