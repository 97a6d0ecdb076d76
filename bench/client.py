"""One OpenAI-compatible request: streamed and timed chunk by chunk, or unary (`bench soak`).

Every failure becomes a `RequestRecord.error` (HTTP 4xx/5xx such as 429 and 503, an error event
in the stream, a dropped connection, a stream without `[DONE]`, a timeout); nothing raises except
task cancellation, which is recorded as a client abort first.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from bench.records import BenchRequest, ErrorKind, RequestRecord, json_schema_format
from bench.validity import check_output


@dataclass(frozen=True)
class Endpoint:
    """Where and how to send requests.

    Attributes:
        base_url: server root, with or without a trailing `/v1`.
        model: model name sent in each request.
        api: "chat" (`/v1/chat/completions`) or "completions" (`/v1/completions`).
        api_key: bearer token, if the server wants one.
        timeout: seconds a whole request may take before it counts as a timeout.
        temperature: sampling temperature.
        ignore_eos: send vLLM's `ignore_eos` so every answer runs to `max_tokens`.
        cache_salt: vLLM's `cache_salt`: "none" (not sent), "request" (a fresh random salt per
            request: no prefix-cache reuse between requests or targets), or a fixed salt.
        extra_body: more JSON fields merged into every request.
    """

    base_url: str
    model: str
    api: str = "chat"
    api_key: str | None = None
    timeout: float = 300.0
    temperature: float = 0.0
    ignore_eos: bool = False
    cache_salt: str = "none"
    extra_body: dict[str, Any] = field(default_factory=dict)

    @property
    def root(self) -> str:
        """The server root without `/v1`."""
        url = self.base_url.rstrip("/")
        return url[:-3] if url.endswith("/v1") else url

    @property
    def url(self) -> str:
        """The generation endpoint's URL."""
        path = "chat/completions" if self.api == "chat" else "completions"
        return f"{self.root}/v1/{path}"

    def headers(self) -> dict[str, str]:
        """Request headers (authorization when an API key is set)."""
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    def body(self, request: BenchRequest) -> dict[str, Any]:
        """The JSON body for one request."""
        body: dict[str, Any] = {
            "model": self.model,
            "max_tokens": request.max_tokens,
            "temperature": self.temperature,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if self.api == "chat":
            body["messages"] = [{"role": "user", "content": request.prompt}]
        else:
            body["prompt"] = request.prompt
        if request.schema is not None:
            body["response_format"] = json_schema_format(request.schema)
        if self.ignore_eos:
            body["ignore_eos"] = True
        if self.cache_salt == "request":
            body["cache_salt"] = uuid.uuid4().hex
        elif self.cache_salt != "none":
            body["cache_salt"] = self.cache_salt
        body.update(self.extra_body)
        return body


async def stream_request(
    session: aiohttp.ClientSession,
    endpoint: Endpoint,
    request: BenchRequest,
    record: RequestRecord,
    *,
    abort_after_chunks: int | None = None,
    before_abort: Callable[[], Awaitable[None]] | None = None,
) -> RequestRecord:
    """Send one streaming request and fill `record` with its timeline and outcome.

    Args:
        session: the shared HTTP session.
        endpoint: where and how to send.
        request: what to send.
        record: filled in place (the caller keeps it even if this task is cancelled).
        abort_after_chunks: disconnect after this many output chunks (cancellation probe);
            the record then ends as a client abort.
        before_abort: awaited, still connected, right before that disconnect.

    Returns:
        The same record.
    """
    exchange = _exchange(session, endpoint, request, record, abort_after_chunks, before_abort)
    return await _guarded(endpoint, request, record, exchange)


async def unary_request(
    session: aiohttp.ClientSession, endpoint: Endpoint, request: BenchRequest, record: RequestRecord
) -> RequestRecord:
    """Send one non-streaming request and fill `record` (errors recorded, never raised)."""
    return await _guarded(
        endpoint, request, record, _unary_exchange(session, endpoint, request, record)
    )


async def _guarded(
    endpoint: Endpoint,
    request: BenchRequest,
    record: RequestRecord,
    exchange: Coroutine[Any, Any, None],
) -> RequestRecord:
    """Time `exchange` under the endpoint's timeout, record its failure, validate the output."""
    record.prompt_tokens = request.prompt_tokens
    record.start = time.perf_counter()
    try:
        async with asyncio.timeout(endpoint.timeout):
            await exchange
    except TimeoutError:
        _fail(record, ErrorKind.TIMEOUT, f"no complete answer within {endpoint.timeout:g} s")
    except (aiohttp.ClientError, UnicodeDecodeError) as exc:
        _fail(record, ErrorKind.STREAM, f"{type(exc).__name__}: {exc}"[:200])
    except asyncio.CancelledError:
        _fail(record, ErrorKind.CLIENT_ABORT, "cancelled by the harness")
        raise
    if record.end == 0.0:
        record.end = time.perf_counter()
    if record.success and request.schema is not None:
        record.schema_valid = check_output(record.text, request.schema)
    return record


def _fail(record: RequestRecord, kind: ErrorKind, detail: str) -> None:
    record.error = kind
    record.error_detail = detail
    record.end = time.perf_counter()


def _http_error(record: RequestRecord, status: int, raw: bytes) -> None:
    kind = ErrorKind.HTTP_4XX if status < 500 else ErrorKind.HTTP_5XX
    _fail(record, kind, f"HTTP {status}: {raw.decode('utf-8', 'replace')[:200]}")


async def _unary_exchange(
    session: aiohttp.ClientSession, endpoint: Endpoint, request: BenchRequest, record: RequestRecord
) -> None:
    body = endpoint.body(request)
    body["stream"] = False
    body.pop("stream_options", None)
    async with session.post(endpoint.url, json=body, headers=endpoint.headers()) as response:
        record.status = response.status
        raw = await response.read()
    if record.status >= 400:
        _http_error(record, record.status, raw)
        return
    try:
        data = json.loads(raw)
        choice = data["choices"][0]
        record.text = (choice.get("message") or {}).get("content") or choice.get("text") or ""
        record.finish_reason = choice.get("finish_reason")
        record.output_tokens = int((data.get("usage") or {}).get("completion_tokens") or 0)
    except (ValueError, KeyError, IndexError, TypeError):
        _fail(record, ErrorKind.STREAM, f"malformed answer: {raw[:80]!r}")


async def _sse_lines(response: aiohttp.ClientResponse) -> AsyncIterator[tuple[str, float]]:
    """Lines of the body as they arrive, each with its arrival time (no line-length limit)."""
    buffer = b""
    async for data in response.content.iter_any():
        now = time.perf_counter()
        buffer += data
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            yield line.decode("utf-8").rstrip("\r"), now
    if buffer:
        yield buffer.decode("utf-8").rstrip("\r"), time.perf_counter()


async def _exchange(
    session: aiohttp.ClientSession,
    endpoint: Endpoint,
    request: BenchRequest,
    record: RequestRecord,
    abort_after_chunks: int | None,
    before_abort: Callable[[], Awaitable[None]] | None,
) -> None:
    body = endpoint.body(request)
    async with session.post(endpoint.url, json=body, headers=endpoint.headers()) as response:
        record.status = response.status
        if response.status >= 400:
            _http_error(record, response.status, await response.read())
            return
        done = False
        async for line, now in _sse_lines(response):
            if not line.startswith("data:"):
                continue
            payload = line[5:].strip()
            if payload == "[DONE]":
                done = True
                break
            if not _take_chunk(record, payload, now):
                return
            if abort_after_chunks is not None and len(record.chunk_times) >= abort_after_chunks:
                if before_abort is not None:
                    await before_abort()
                response.close()  # drop the connection: the server sees the client leave
                _fail(record, ErrorKind.CLIENT_ABORT, f"probe closed after {abort_after_chunks}")
                return
        if not done:
            _fail(record, ErrorKind.STREAM, "stream ended before [DONE]")
            return
    record.end = time.perf_counter()
    if record.output_tokens == 0:
        record.output_tokens = len(record.chunk_times)


def _take_chunk(record: RequestRecord, payload: str, now: float) -> bool:
    """Apply one SSE data payload; False when it ended the request with an error."""
    try:
        data = json.loads(payload)
    except json.JSONDecodeError:
        _fail(record, ErrorKind.STREAM, f"malformed chunk: {payload[:80]}")
        return False
    if not isinstance(data, dict):
        _fail(record, ErrorKind.STREAM, f"malformed chunk: {payload[:80]}")
        return False
    if "error" in data:
        error = data["error"] if isinstance(data["error"], dict) else {"message": data["error"]}
        code = error.get("code")
        kind = ErrorKind.HTTP_4XX if isinstance(code, int) and code < 500 else ErrorKind.HTTP_5XX
        _fail(record, kind, f"error event: {str(error.get('message'))[:160]}")
        return False
    for choice in data.get("choices") or []:
        piece = (choice.get("delta") or {}).get("content") or choice.get("text") or ""
        if piece:
            record.chunk_times.append(now)
            record.text += piece
        record.finish_reason = choice.get("finish_reason") or record.finish_reason
    usage = data.get("usage")
    if isinstance(usage, dict):
        record.output_tokens = int(usage.get("completion_tokens") or record.output_tokens)
        record.prompt_tokens = int(usage.get("prompt_tokens") or record.prompt_tokens)
    return True
