"""The llguidance Lark grammar of a tools request: tool calls whose arguments follow each tool's
(planned) schema, optionally or-ed with a plain-text (or JSON-schema) answer.

vLLM's guidance backend compiles `structured_outputs: {"grammar": ...}` with
`llguidance.grammar_from("grammar", ...)`, which reads Lark with inline `%json {schema}`.
"""

from __future__ import annotations

import json
from typing import Any

from server.tools.syntax import CLOSE, MID, OPEN, SEPARATOR

ARGUMENT_SPACING: dict[str, str] = {"item_separator": ", ", "key_separator": ": "}
"""Arguments are generated spaced like `json.dumps`, as the builtin prompt shows calls."""

TEXT_RULE = r"TEXT: /[^<][\s\S]*/"
"""A plain-text answer: anything not starting with "<" (so it never looks like a call)."""


def _literal(text: str) -> str:
    return json.dumps(text)  # a Lark string literal (names are [A-Za-z0-9_-], nothing else)


def spaced(spec: dict[str, Any]) -> dict[str, Any]:
    """A planned arguments schema (carrying its `x-guidance` options) spaced like the prompt."""
    return {**spec, "x-guidance": {**spec.get("x-guidance", {}), **ARGUMENT_SPACING}}


def tool_grammar(
    tools: list[tuple[str, dict[str, Any]]],
    *,
    parallel: bool,
    text: bool,
    text_schema: dict[str, Any] | None = None,
) -> str:
    """The grammar of a tools request's output.

    Args:
        tools: (name, forwarded arguments schema) of each function the model may call.
        parallel: whether several calls (blocks joined by "\\n") are allowed, else exactly one.
        text: whether a non-call answer is allowed (tool_choice auto).
        text_schema: when the non-call answer must be JSON of this (forwarded) schema.

    Returns:
        The Lark grammar.
    """
    if text and text_schema is not None:
        start = ["start: calls | text", f"text: %json {json.dumps(text_schema)}"]
    elif text:
        start = ["start: calls | TEXT", TEXT_RULE]
    else:
        start = ["start: calls"]
    repeat = f" ({_literal(SEPARATOR)} call)*" if parallel else ""
    lines = [
        *start,
        f"calls: call{repeat}",
        "call: " + " | ".join(f"call_{i}" for i in range(len(tools))),
    ]
    for i, (name, spec) in enumerate(tools):
        lines.append(f"call_{i}: {_literal(OPEN + name + MID)} args_{i} {_literal(CLOSE)}")
        lines.append(f"args_{i}: %json {json.dumps(spaced(spec))}")
    return "\n".join(lines) + "\n"
