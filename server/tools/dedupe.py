"""Identical tool calls in one answer are sent once (setting `tool_dedupe`, on by default).

Small models repeat a finished call verbatim where the grammar allows another call (parallel
calls): the same function with the same arguments, twice or until `max_tokens`. A client would
run it twice (two payments, two e-mails). Calls are identical when the function name and the
arguments, as parsed JSON (key order and spacing aside), are equal; the first is kept, the later
ones are dropped from `tool_calls` (unary and streamed alike) and counted in the verdict.
"""

from __future__ import annotations

import json
from typing import Any


def call_key(name: str, arguments: str) -> tuple[str, str]:
    """What makes two calls identical: the name, and the arguments as canonical JSON (the raw
    text when it does not parse)."""
    try:
        parsed: Any = json.loads(arguments)
    except ValueError:
        return name, arguments
    return name, json.dumps(parsed, sort_keys=True, separators=(",", ":"))


def distinct_calls(calls: list[tuple[str, str]]) -> list[int]:
    """The positions of the calls to keep: each (name, arguments) the first time it occurs."""
    seen: set[tuple[str, str]] = set()
    kept = []
    for i, (name, arguments) in enumerate(calls):
        key = call_key(name, arguments)
        if key not in seen:
            seen.add(key)
            kept.append(i)
    return kept
