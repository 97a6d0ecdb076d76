"""A tiny OpenAI-compatible streaming server on 127.0.0.1 for the harness's unit tests.

Raw asyncio, so tests control exactly how a response fails. A request's behaviour comes from its
model name, or from a `!tag` at the start of the prompt:

    ok           stream max_tokens chunks then usage and [DONE] (or the whole answer as JSON
                 when the request does not ask for a stream)
    429 / 503    answer that HTTP status with an OpenAI error body
    broken       stream two chunks, then drop the connection mid-body
    error-event  stream one chunk, then an error event (code 500), then [DONE]
    no-done      stream the chunks and end the body cleanly without [DONE]
    garbage      send a data line that is not JSON
    slow         wait 30 s before answering

`/metrics` exposes `vllm:num_requests_running` (streams in progress; a stream stops when its
client hangs up), `vllm:num_requests_waiting`, `vllm:kv_cache_usage_perc` and spec-decode counters.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass, field
from typing import Any

BEHAVIOURS = ("ok", "429", "503", "broken", "error-event", "no-done", "garbage", "slow")


@dataclass
class FakeServer:
    """Serves on an ephemeral port; `first_delay`/`token_delay` shape the timeline (seconds)."""

    first_delay: float = 0.02
    token_delay: float = 0.005
    running: int = 0
    requests_seen: int = 0
    spec_drafts: int = 0
    port: int = 0
    _server: asyncio.base_events.Server | None = None
    bodies: list[dict[str, Any]] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        """Root URL of the server."""
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> FakeServer:
        """Start listening."""
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        """Stop listening."""
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode().split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            headers = {k.lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            await self._route(method, path, body, reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def _route(
        self,
        method: str,
        path: str,
        body: bytes,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        if method == "GET" and path == "/v1/models":
            await _respond(writer, 200, json.dumps({"data": [{"id": "fake-model"}]}))
        elif method == "GET" and path == "/metrics":
            await _respond(writer, 200, self.metrics_text(), "text/plain")
        elif method == "POST" and path in ("/v1/chat/completions", "/v1/completions"):
            await self._generate(json.loads(body), reader, writer)
        else:
            await _respond(writer, 404, json.dumps({"error": {"message": "not found"}}))

    def metrics_text(self) -> str:
        """The Prometheus exposition of the fake engine's state."""
        return (
            "# TYPE vllm:num_requests_running gauge\n"
            f'vllm:num_requests_running{{model_name="fake-model"}} {self.running}\n'
            "# TYPE vllm:num_requests_waiting gauge\n"
            'vllm:num_requests_waiting{model_name="fake-model"} 0\n'
            "# TYPE vllm:kv_cache_usage_perc gauge\n"
            f'vllm:kv_cache_usage_perc{{model_name="fake-model"}} {0.01 * self.running}\n'
            "# TYPE vllm:spec_decode_num_drafts counter\n"
            f"vllm:spec_decode_num_drafts_total {self.spec_drafts}\n"
            "# TYPE vllm:spec_decode_num_draft_tokens counter\n"
            f"vllm:spec_decode_num_draft_tokens_total {3 * self.spec_drafts}\n"
            "# TYPE vllm:spec_decode_num_accepted_tokens counter\n"
            f"vllm:spec_decode_num_accepted_tokens_total {2 * self.spec_drafts}\n"
        )

    async def _generate(
        self, req: dict[str, Any], reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.requests_seen += 1
        self.bodies.append(req)
        behaviour = _behaviour(req)
        if behaviour in ("429", "503"):
            err = {"error": {"message": f"fake {behaviour}", "code": int(behaviour)}}
            await _respond(writer, int(behaviour), json.dumps(err))
            return
        if behaviour == "slow":
            await asyncio.sleep(30)
        if not req.get("stream"):
            await _respond(writer, 200, json.dumps(_whole_answer(req)))
            return
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
            b"transfer-encoding: chunked\r\nconnection: close\r\n\r\n"
        )
        self.running += 1
        gone = asyncio.create_task(reader.read())  # b"" once the client hangs up
        try:
            await self._stream(req, behaviour, writer, gone)
        finally:
            self.running -= 1
            gone.cancel()

    async def _stream(
        self,
        req: dict[str, Any],
        behaviour: str,
        writer: asyncio.StreamWriter,
        gone: asyncio.Task,
    ) -> None:
        chat = "messages" in req
        n = int(req.get("max_tokens", 8))
        await asyncio.sleep(self.first_delay)
        for i in range(n):
            if gone.done():
                return
            if behaviour == "broken" and i == 2:
                writer.transport.abort()
                return
            if behaviour == "garbage" and i == 1:
                await _event(writer, "this is not json")
                break
            if behaviour == "error-event" and i == 1:
                await _event(writer, json.dumps({"error": {"message": "boom", "code": 500}}))
                break
            piece = "{}" if req.get("response_format") else f"t{i} "
            choice = {"index": 0, "delta": {"content": piece}} if chat else {"text": piece}
            await _event(writer, json.dumps({"choices": [choice]}))
            await asyncio.sleep(self.token_delay)
            if req.get("response_format"):
                n = i + 1
                break
        reason = "stop" if req.get("response_format") else "length"
        final = (
            {"index": 0, "delta": {}, "finish_reason": reason}
            if chat
            else {"text": "", "finish_reason": reason}
        )
        await _event(writer, json.dumps({"choices": [final]}))
        if (req.get("stream_options") or {}).get("include_usage"):
            usage = {"prompt_tokens": 7, "completion_tokens": n, "total_tokens": 7 + n}
            await _event(writer, json.dumps({"choices": [], "usage": usage}))
        if behaviour != "no-done":
            await _event(writer, "[DONE]")
        writer.write(b"0\r\n\r\n")
        await writer.drain()


def _whole_answer(req: dict[str, Any]) -> dict[str, Any]:
    """A non-streaming answer: max_tokens words (or `{}` under a response_format)."""
    n = int(req.get("max_tokens", 8))
    text = "{}" if req.get("response_format") else "".join(f"t{i} " for i in range(n))
    reason = "stop" if req.get("response_format") else "length"
    choice: dict[str, Any] = {"index": 0, "finish_reason": reason}
    if "messages" in req:
        choice["message"] = {"role": "assistant", "content": text}
    else:
        choice["text"] = text
    usage = {"prompt_tokens": 7, "completion_tokens": 1 if req.get("response_format") else n}
    return {"choices": [choice], "usage": usage}


def _behaviour(req: dict[str, Any]) -> str:
    model = str(req.get("model", ""))
    if model in BEHAVIOURS:
        return model
    text = req.get("prompt") or (req.get("messages") or [{}])[-1].get("content", "")
    if isinstance(text, str) and text.startswith("!"):
        tag = text[1:].split()[0]
        if tag in BEHAVIOURS:
            return tag
    return "ok"


async def _event(writer: asyncio.StreamWriter, data: str) -> None:
    payload = f"data: {data}\n\n".encode()
    writer.write(f"{len(payload):x}\r\n".encode() + payload + b"\r\n")
    await writer.drain()


async def _respond(
    writer: asyncio.StreamWriter, status: int, body: str, ctype: str = "application/json"
) -> None:
    raw = body.encode()
    writer.write(
        f"HTTP/1.1 {status} X\r\ncontent-type: {ctype}\r\ncontent-length: {len(raw)}\r\n"
        "connection: close\r\n\r\n".encode()
        + raw
    )
    await writer.drain()
