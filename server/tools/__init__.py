"""Tool calling on /v1/chat/completions, built in the gateway (docs/tools.md).

The engine gets a plain chat request plus a grammar; the gateway turns its text back into calls:

- before forwarding: `plan = await aplan_tools(body, structured_service)` when `wants_tools(body)`
  (rewrites `body` in place; 400 for malformed tools, unenforceable strict tools);
- the plan is a `StructuredPlan` (kind "tool_calls"): choices are annotated as usual;
- non-streaming: `apply_tool_calls(data, plan)` after the verdicts (message.tool_calls);
- streaming: `tool_stream(relay(...), plan)` (tool-call deltas).
"""

from __future__ import annotations

from server.tools.plan import ToolPlan
from server.tools.planner import aplan_tools, plan_tools
from server.tools.prompt import render_messages, tool_system_block
from server.tools.response import apply_tool_calls
from server.tools.spec import parse_tools, wants_tools
from server.tools.stream import tool_stream

__all__ = [
    "ToolPlan",
    "aplan_tools",
    "apply_tool_calls",
    "parse_tools",
    "plan_tools",
    "render_messages",
    "tool_stream",
    "tool_system_block",
    "wants_tools",
]
