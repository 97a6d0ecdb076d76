"""Tool calls in a whole (non-streaming) chat answer: the engine's text becomes
`message.tool_calls`, as OpenAI returns them."""

from __future__ import annotations

import secrets
from typing import Any

from server.structured import StructuredPlan
from server.tools.plan import ToolPlan
from server.tools.syntax import parse_output


def call_id() -> str:
    """A fresh tool-call id (`call_` and 24 random hex digits)."""
    return "call_" + secrets.token_hex(12)


def tool_call(name: str, arguments: str) -> dict[str, Any]:
    """One entry of `message.tool_calls` (arguments: the JSON text as generated)."""
    return {"id": call_id(), "type": "function", "function": {"name": name, "arguments": arguments}}


def apply_tool_calls(data: Any, plan: StructuredPlan | None) -> None:
    """Turn each choice's generated calls into `message.tool_calls`, in place (after the
    verdicts are attached). A choice that did not finish its calls (`length`, or output that
    does not follow the syntax) keeps its raw text as content and gets no tool_calls.

    Args:
        data: the engine's chat completion (already annotated).
        plan: the request's plan; anything but a `ToolPlan` leaves `data` alone.
    """
    if not isinstance(plan, ToolPlan) or not isinstance(data, dict):
        return
    for choice in data.get("choices") or []:
        message = choice.get("message")
        if not isinstance(message, dict):
            continue
        parsed = parse_output(message.get("content") or "", allow_text=plan.allow_text)
        if not parsed.calls or not parsed.complete or choice.get("finish_reason") == "length":
            continue
        message["content"] = parsed.content
        message["tool_calls"] = [tool_call(name, args) for name, args in plan.calls(parsed)]
