"""The tool fields of a chat request (`tools`, `tool_choice`, `parallel_tool_calls`), checked.

Every malformed value is a 400 naming the parameter as the client wrote it (`tools[2].function.
name`, `tool_choice.function.name`), like OpenAI's own errors.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from server.errors import InvalidRequest

NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
"""OpenAI's rule for function names; the grammar writes names as literals, so no escaping."""

EMPTY_PARAMETERS: dict[str, Any] = {"type": "object", "properties": {}}
"""A function declared without `parameters` takes no arguments."""

MAX_TOOLS = 128
"""OpenAI's bound on functions per request (each is planned and compiled)."""
MODES = ("none", "auto", "required")
FIELDS = ("tools", "tool_choice", "parallel_tool_calls")


@dataclass(frozen=True)
class Tool:
    """One function the model may call."""

    index: int  # position in `tools`
    name: str
    parameters: dict[str, Any]  # the client's schema (EMPTY_PARAMETERS when absent)
    strict: bool

    @property
    def param(self) -> str:
        """The request parameter that holds this tool's schema."""
        return f"tools[{self.index}].function.parameters"


@dataclass(frozen=True)
class ToolRequest:
    """A request's tools and what it asks of them."""

    tools: list[Tool]
    mode: str  # none | auto | required | named
    named: str | None  # the one allowed function when mode == "named"
    parallel: bool  # more than one call allowed

    @property
    def callable(self) -> list[Tool]:
        """The tools the grammar lets the model call."""
        if self.mode == "none":
            return []
        return [t for t in self.tools if self.named is None or t.name == self.named]


def wants_tools(body: dict[str, Any]) -> bool:
    """Whether a chat body carries any tool field the gateway must handle."""
    return any(body.get(name) is not None for name in FIELDS)


def parse_tools(body: dict[str, Any]) -> ToolRequest:
    """Check a body's tool fields.

    Args:
        body: the chat request body (not modified).

    Returns:
        The tools, the tool_choice mode and whether parallel calls are allowed.

    Raises:
        InvalidRequest: a malformed tool, a duplicate name, a tool_choice without tools or naming
            an unknown function, a non-boolean parallel_tool_calls.
    """
    raw = body.get("tools")
    if raw is None:
        raise InvalidRequest("tool_choice needs tools", param="tool_choice")
    if not isinstance(raw, list) or not raw:
        raise InvalidRequest("tools must be a non-empty array of tools", param="tools")
    if len(raw) > MAX_TOOLS:
        raise InvalidRequest(f"at most {MAX_TOOLS} tools per request", param="tools")
    tools: list[Tool] = []
    for index, item in enumerate(raw):
        tool = _tool(index, item)
        if any(t.name == tool.name for t in tools):
            raise InvalidRequest(
                f"duplicate function name {tool.name!r}", param=f"tools[{index}].function.name"
            )
        tools.append(tool)
    mode, named = _choice(body.get("tool_choice"), {t.name for t in tools})
    parallel = body.get("parallel_tool_calls")
    if parallel is not None and not isinstance(parallel, bool):
        raise InvalidRequest("parallel_tool_calls must be a boolean", param="parallel_tool_calls")
    return ToolRequest(tools=tools, mode=mode, named=named, parallel=parallel is not False)


def _tool(index: int, item: Any) -> Tool:
    where = f"tools[{index}]"
    if not isinstance(item, dict):
        raise InvalidRequest(f"{where} must be an object", param=where)
    if item.get("type") != "function":
        raise InvalidRequest(
            f"{where}.type must be 'function' (found {item.get('type')!r})", param=f"{where}.type"
        )
    function = item.get("function")
    if not isinstance(function, dict):
        raise InvalidRequest(f"{where}.function must be an object", param=f"{where}.function")
    name = function.get("name")
    if not isinstance(name, str) or not NAME.match(name):
        raise InvalidRequest(
            f"{where}.function.name must be 1 to 64 characters of a-z, A-Z, 0-9, _ and - "
            f"(found {name!r})",
            param=f"{where}.function.name",
        )
    description = function.get("description")
    if description is not None and not isinstance(description, str):
        raise InvalidRequest(
            f"{where}.function.description must be a string", param=f"{where}.function.description"
        )
    parameters = function.get("parameters", EMPTY_PARAMETERS)
    if not isinstance(parameters, dict):
        raise InvalidRequest(
            f"{where}.function.parameters must be a JSON Schema object",
            param=f"{where}.function.parameters",
        )
    strict = function.get("strict")
    if strict is not None and not isinstance(strict, bool):
        raise InvalidRequest(
            f"{where}.function.strict must be a boolean", param=f"{where}.function.strict"
        )
    return Tool(index=index, name=name, parameters=parameters, strict=strict is True)


def _choice(choice: Any, names: set[str]) -> tuple[str, str | None]:
    if choice is None:
        return "auto", None
    if isinstance(choice, str):
        if choice not in MODES:
            raise InvalidRequest(
                f"tool_choice must be one of {', '.join(MODES)} or a named function "
                f"(found {choice!r})",
                param="tool_choice",
            )
        return choice, None
    if not isinstance(choice, dict) or choice.get("type") != "function":
        raise InvalidRequest(
            'tool_choice must be a string or {"type": "function", "function": {"name": ...}}',
            param="tool_choice",
        )
    function = choice.get("function")
    name = function.get("name") if isinstance(function, dict) else None
    if not isinstance(name, str):
        raise InvalidRequest(
            "tool_choice.function.name must be a string", param="tool_choice.function.name"
        )
    if name not in names:
        raise InvalidRequest(
            f"tool_choice names function {name!r}, which is not among the tools",
            param="tool_choice.function.name",
        )
    return "named", name
