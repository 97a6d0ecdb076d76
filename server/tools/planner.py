"""Turn a tools request into a plain chat request plus a grammar, and plan how it is checked.

The engine never sees `tools` (builtin prompt) or sees them only to render its own template
(`tool_prompt: model`, `tool_choice: "none"`); what it must generate is the grammar in
`structured_outputs`, so tool-call arguments are schema-valid by construction.
"""

from __future__ import annotations

import asyncio
from functools import partial
from typing import TYPE_CHECKING, Any

from server.errors import InvalidRequest
from server.structured import StructuredLimits, StructuredPlan, plan_request
from server.structured.compiler import CompileVerdict, GrammarChecker
from server.structured.plan import plan_schema
from server.structured.schema import too_complex
from server.structured.structured_plan import JSON_KINDS
from server.tools.grammar import tool_grammar
from server.tools.plan import KIND, ToolPlan
from server.tools.prompt import render_messages
from server.tools.spec import FIELDS, Tool, ToolRequest, parse_tools

if TYPE_CHECKING:
    from server.structured import StructuredService

TOOL_PROMPTS = ("builtin", "model")


def plan_tools(
    body: dict[str, Any],
    checker: GrammarChecker | None,
    limits: StructuredLimits,
    *,
    tool_prompt: str = "builtin",
    dedupe: bool = False,
    repeat_stop: bool = False,
) -> StructuredPlan | None:
    """Check a chat body's tool fields and rewrite it (in place) into what the engine gets.

    Args:
        body: the chat request body, carrying `tools` (see `spec.wants_tools`).
        checker: the compile worker (None: no compile check).
        limits: the structured-output bounds.
        tool_prompt: "builtin" (tools rendered by `server.tools.prompt`) or "model" (the
            model's chat template renders them).
        dedupe: identical calls of one answer are sent once (`server.tools.dedupe`).
        repeat_stop: with `dedupe`, an answer ends at its first repeated call where repeats are
            possible and the answer is read whole (`server.tools.repeat_stop`).

    Returns:
        A `ToolPlan` when calls are possible; with tool_choice "none" the response_format's
        plan (None without one).

    Raises:
        InvalidRequest: malformed tools, strict tools the backend cannot enforce, an
            uncompilable grammar, fields that cannot be combined with tools.
    """
    request = parse_tools(body)
    if body.get("echo"):
        raise InvalidRequest("echo cannot be combined with tools", param="echo")
    if request.mode == "none":
        _forward(body, tool_prompt)
        return plan_request(body, checker, limits)
    if body.get("structured_outputs") is not None:
        raise InvalidRequest(
            'structured_outputs cannot be combined with tool calls (tool_choice "none" can)',
            param="structured_outputs",
        )
    text_plan = plan_request(body, checker, limits) if request.mode == "auto" else None
    if text_plan is not None and text_plan.kind not in JSON_KINDS:
        raise InvalidRequest(
            f"response_format {text_plan.kind} cannot be combined with tool calls",
            param="response_format",
        )
    plans = {tool.name: _plan_tool(tool, checker, limits) for tool in request.callable}
    grammar = tool_grammar(
        [(name, plan.spec) for name, plan in plans.items()],
        parallel=request.parallel,
        text=request.mode == "auto",
        text_schema=text_plan.spec if text_plan is not None else None,
    )
    compiled = _compile(grammar, checker, limits)
    if compiled.warnings and any(p.strict for p in plans.values()):
        raise InvalidRequest(
            f"the decoding backend would weaken the strict tools: {'; '.join(compiled.warnings)}",
            param="tools",
            code="unsupported_schema_keywords",
        )
    _forward(body, tool_prompt)
    body.pop("response_format", None)  # the grammar carries it (auto) or it cannot apply
    body["structured_outputs"] = {"grammar": grammar}
    plan = _tool_plan(request, plans, text_plan, grammar, compiled, checker, dedupe=dedupe)
    plan.stop_at_repeat = repeat_stop and dedupe and _stoppable(request, body)
    return plan


def _stoppable(request: ToolRequest, body: dict[str, Any]) -> bool:
    """Whether an answer can be ended at its first repeat: more than one call allowed, one
    choice, no logprobs (they would have to be cut at the same place)."""
    one = body.get("n") in (None, 1)
    return request.parallel and one and not body.get("logprobs") and not body.get("top_logprobs")


async def aplan_tools(
    body: dict[str, Any],
    service: StructuredService | None,
    *,
    tool_prompt: str = "builtin",
    dedupe: bool = False,
    repeat_stop: bool = False,
) -> StructuredPlan | None:
    """`plan_tools` off the event loop with the service's compile worker and limits.

    Args:
        body: the chat body (rewritten in place).
        service: the structured-output service (None: default limits, no compile check).
        tool_prompt, dedupe, repeat_stop: see `plan_tools`.

    Returns:
        See `plan_tools`.
    """
    checker = service.checker if service is not None else None
    limits = service.limits if service is not None else StructuredLimits()
    plan = await asyncio.to_thread(
        partial(plan_tools, tool_prompt=tool_prompt, dedupe=dedupe, repeat_stop=repeat_stop),
        body,
        checker,
        limits,
    )
    if plan is not None and service is not None:
        plan.verdict_timeout_s = limits.verdict_timeout_s
    return plan


def _plan_tool(tool: Tool, checker: GrammarChecker | None, limits: StructuredLimits) -> Any:
    """A tool's arguments under the response_format policy, an object at the root."""
    try:
        plan = plan_schema(tool.parameters, tool.strict, checker, limits, param=tool.param)
    except InvalidRequest as exc:
        raise InvalidRequest(
            f"tool {tool.name!r}: {exc.message}", param=exc.param, code=exc.code
        ) from None
    kind = plan.spec.get("type") if isinstance(plan.spec, dict) else "boolean schema"
    if kind not in (None, "object") and not (isinstance(kind, list) and "object" in kind):
        raise InvalidRequest(
            f"tool {tool.name!r}: parameters must describe a JSON object (type {kind!r})",
            param=tool.param,
        )
    plan.spec["type"] = "object"  # arguments are an object, whatever else the schema allows
    return plan


def _compile(grammar: str, checker: GrammarChecker | None, limits: StructuredLimits) -> Any:
    if len(grammar) > limits.max_schema_bytes:
        raise too_complex(f"tool grammar of {len(grammar)} characters", param="tools")
    if checker is None:
        return CompileVerdict(None)
    result = checker.compile("grammar", grammar)
    if result.timed_out:
        raise too_complex(f"compiling took longer than {checker.timeout_s:g} s", param="tools")
    if result.error:
        raise InvalidRequest(
            f"the decoding backend cannot compile the tool grammar: {result.error}", param="tools"
        )
    return result


def _forward(body: dict[str, Any], tool_prompt: str) -> None:
    """Rewrite the body into what the engine gets (tools rendered, tool fields removed)."""
    if tool_prompt == "model":
        body["tool_choice"] = "none"
        body.pop("parallel_tool_calls", None)
        return
    body["messages"] = render_messages(body["messages"], body["tools"])
    for name in FIELDS:
        body.pop(name, None)


def _tool_plan(
    request: ToolRequest,
    plans: dict[str, StructuredPlan],
    text_plan: StructuredPlan | None,
    grammar: str,
    compiled: CompileVerdict,
    checker: GrammarChecker | None,
    *,
    dedupe: bool,
) -> ToolPlan:
    unenforced = [
        {**item, "param": tool.param}
        for tool in request.callable
        for item in plans[tool.name].unenforced
    ]
    if text_plan is not None:
        unenforced += [{**item, "param": "response_format"} for item in text_plan.unenforced]
    unenforced += [{"keyword": "", "pointer": "", "reason": w} for w in compiled.warnings]
    seconds = compiled.seconds + sum(p.compile_s for p in plans.values())
    return ToolPlan(
        kind=KIND,
        strict=any(p.strict for p in plans.values()) or bool(text_plan and text_plan.strict),
        spec=grammar,
        unenforced=unenforced,
        compile_s=seconds + (text_plan.compile_s if text_plan else 0.0),
        checker=checker,
        tools=plans,
        allow_text=request.mode == "auto",
        parallel=request.parallel,
        text_plan=text_plan,
        dedupe=dedupe,
    )
