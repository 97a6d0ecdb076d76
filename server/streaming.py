"""SSE relay from an engine stream to the client, measuring TTFT and inter-token latency.

Lines are forwarded unchanged unless a structured-output verdict must be attached to the
chunk that finishes a choice. When the client goes away, the generator is cancelled and the
upstream connection closed, which makes vLLM abort the request.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi.responses import StreamingResponse

from server.echo import NOT_SEPARATED, generated_part
from server.errors import EngineTimeout, EngineUnavailable, StructServeError
from server.structured import StructuredPlan

log = logging.getLogger("structserve.streaming")


def sse_event(payload: str) -> bytes:
    """One SSE `data:` event."""
    return f"data: {payload}\n\n".encode()


def sse_response(events: AsyncIterator[bytes]) -> StreamingResponse:
    """An SSE response of `events`, unbuffered (no cache, no proxy buffering)."""
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(events, media_type="text/event-stream", headers=headers)


def sse_data(line: str) -> str | None:
    """The payload of an SSE `data:` line or event (stripped); None for any other line."""
    return line[5:].strip() if line.startswith("data:") else None


async def sse_payloads(lines: AsyncIterator[str]) -> AsyncGenerator[str, None]:
    """The payloads of the SSE `data:` lines among `lines`, up to `[DONE]` (not included)."""
    async for line in lines:
        payload = sse_data(line)
        if payload is None:
            continue
        if payload == "[DONE]":
            return
        yield payload


def sse_error(exc: StructServeError) -> bytes:
    """An SSE event carrying an OpenAI error object (ends a broken stream)."""
    return sse_event(json.dumps(exc.body()))


def choice_text(choice: dict[str, Any]) -> str:
    """The text a (streamed or whole) chat or completion choice carries."""
    if "delta" in choice:
        return choice["delta"].get("content") or ""
    if "message" in choice:
        return (choice["message"] or {}).get("content") or ""
    return choice.get("text") or ""


async def annotate_choice(
    plan: StructuredPlan,
    choice: dict[str, Any],
    text: str,
    *,
    echoed: list[str | None] | None = None,
    n: int = 1,
) -> dict[str, Any]:
    """Check a finished choice's generated text (an echoed prompt stripped) off the event loop
    and attach the verdict to it.

    Args:
        plan: the request's structured-output plan.
        choice: the whole or final streamed choice (its finish_reason may be rewritten).
        text: the choice's whole text, as the engine sent it.
        echoed: `server.echo.echoed_prompts(...)`, None without echo.
        n: choices per prompt.

    Returns:
        The verdict (also `choice["structured_output"]`).
    """
    generated = generated_part(text, echoed, int(choice.get("index", 0)), n)
    if generated is None:
        return plan.annotate_unchecked(choice, NOT_SEPARATED)
    return await plan.aannotate(choice, generated)


@dataclass
class StreamObserver:
    """Per-stream timing and structured-output bookkeeping."""

    started: float
    on_ttft: Callable[[float], None]
    on_itl: Callable[[float], None]
    plan: StructuredPlan | None = None
    last_token_at: float | None = None
    texts: dict[int, str] = field(default_factory=dict)
    usage: dict[str, Any] | None = None  # the engine's usage chunk (stream_options.include_usage)
    echoed: list[str | None] | None = None  # the prompts the engine echoes (echo: true)
    n: int = 1  # choices per prompt

    async def observe(self, payload: str) -> str:
        """Record one data payload; returns it, rewritten if a verdict was attached (awaited off
        the event loop: other streams keep flowing while a final chunk is checked)."""
        try:
            chunk = json.loads(payload)
        except ValueError:
            return payload
        if isinstance(chunk, dict) and isinstance(chunk.get("usage"), dict):
            self.usage = chunk["usage"]
        choices = chunk.get("choices") if isinstance(chunk, dict) else None
        if not choices:
            return payload
        if any(choice_text(c) for c in choices):
            now = time.perf_counter()
            if self.last_token_at is None:
                self.on_ttft(now - self.started)
            else:
                self.on_itl(now - self.last_token_at)
            self.last_token_at = now
        if self.plan is None:
            return payload
        checks = []
        for choice in choices:
            index = int(choice.get("index", 0))
            self.texts[index] = self.texts.get(index, "") + choice_text(choice)
            if choice.get("finish_reason") is not None:
                text = self.texts[index]
                checks.append(
                    annotate_choice(self.plan, choice, text, echoed=self.echoed, n=self.n)
                )
        if not checks:
            return payload
        await asyncio.gather(*checks)
        return json.dumps(chunk)


async def relay(
    upstream: httpx.Response,
    observer: StreamObserver,
    *,
    deadline: float,
    on_transport_error: Callable[[str], None],
    on_timeout: Callable[[], None] = lambda: None,
) -> AsyncIterator[bytes]:
    """Yield SSE bytes from `upstream` until [DONE], an error, or the deadline.

    `deadline` is in event-loop time (`loop.time()`); past it, even while the engine sends
    nothing (a hung engine), the stream ends with a timeout error event. The caller owns
    `upstream` and closes it (in a `finally`) when this generator ends or is cancelled, which
    aborts the engine request.
    """
    loop = asyncio.get_running_loop()
    lines = upstream.aiter_lines()
    try:
        while True:
            try:
                async with asyncio.timeout_at(deadline):  # around the read only, not the yield
                    line = await anext(lines)
            except StopAsyncIteration:
                return
            payload = sse_data(line)
            if payload is None:
                continue  # blank separators and comments
            if payload != "[DONE]":
                payload = await observer.observe(payload)
            yield sse_event(payload)
            if loop.time() > deadline:
                raise TimeoutError
    except (TimeoutError, httpx.TimeoutException):
        on_timeout()
        yield sse_error(EngineTimeout("request exceeded the gateway's request timeout"))
    except httpx.TransportError as exc:
        on_transport_error(f"{type(exc).__name__}: {exc}")
        yield sse_error(EngineUnavailable("the engine failed while streaming; retry the request"))
