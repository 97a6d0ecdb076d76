"""Read the chat path's answer (`GenerationService.handle_body`'s Response) as data.

A whole answer is a JSONResponse (its body is the chat completion); a streamed one is a
StreamingResponse of SSE `data: {...}` events (chunks, the usage chunk, or an error object).
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator
from contextlib import aclosing
from typing import Any

from fastapi.responses import Response, StreamingResponse

from server.errors import EngineError
from server.streaming import sse_payloads


def whole_answer(response: Response) -> dict[str, Any]:
    """The chat completion a JSONResponse carries.

    Raises:
        EngineError: the body is no JSON object.
    """
    try:
        data = json.loads(bytes(response.body))
    except ValueError:
        raise EngineError("the chat path answered with invalid JSON") from None
    if not isinstance(data, dict):
        raise EngineError("the chat path answered with something other than an object")
    return data


async def chat_events(response: StreamingResponse) -> AsyncGenerator[dict[str, Any], None]:
    """The decoded `data:` payloads of a streamed chat answer, in order (`[DONE]` ends it).

    Closing this generator (the client went away) closes the chat stream, which closes the
    engine connection and so aborts the engine request.

    Yields:
        Each chunk, usage chunk or `{"error": {...}}` object.
    """
    body = response.body_iterator
    try:
        async with aclosing(sse_payloads(_lines(body))) as payloads:
            async for payload in payloads:
                try:
                    event = json.loads(payload)
                except ValueError:
                    continue
                if isinstance(event, dict):
                    yield event
    finally:
        close = getattr(body, "aclose", None)
        if close is not None:
            await close()


async def _lines(body: AsyncIterable[Any]) -> AsyncIterator[str]:
    """The text lines of a response body's pieces (str or bytes)."""
    buffer = ""
    async for piece in body:
        buffer += piece if isinstance(piece, str) else bytes(piece).decode("utf-8")
        *lines, buffer = buffer.split("\n")
        for line in lines:
            yield line
