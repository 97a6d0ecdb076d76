"""Check gateway output against the official `openai` SDK's own types and stream accumulator."""

from __future__ import annotations

import json
from typing import Any

from openai import omit
from openai.lib.streaming.responses._responses import ResponseStreamState
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import TypeAdapter

EVENTS: TypeAdapter[Any] = TypeAdapter(ResponseStreamEvent)


def sdk_response(obj: dict[str, Any]) -> Response:
    """Validate a response object with the SDK's pydantic model (raises when malformed)."""
    return Response.model_validate(obj)


def parse_sse(raw: bytes | str) -> list[tuple[str, dict[str, Any]]]:
    """(event name, data) of each SSE event."""
    text = raw.decode() if isinstance(raw, bytes) else raw
    events = []
    for block in text.split("\n\n"):
        lines = block.strip().splitlines()
        if not lines:
            continue
        name = next(line[7:] for line in lines if line.startswith("event: "))
        data = json.loads(next(line[6:] for line in lines if line.startswith("data: ")))
        events.append((name, data))
    return events


def accumulate(events: list[tuple[str, dict[str, Any]]]) -> Any:
    """Feed validated events through the SDK's stream state; returns the state."""
    state: ResponseStreamState[Any] = ResponseStreamState(input_tools=omit, text_format=omit)
    for name, data in events:
        assert name == data["type"]
        state.handle_event(EVENTS.validate_python(data))
    return state
