"""A fake vLLM OpenAI server for fast unit tests of the gateway (never a stand-in for vLLM in
integration tests)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse

from server.structured.canary import CANARIES

WORDS = ["alpha", " beta", " gamma", " delta"]


def canary_answer(body: dict[str, Any], backend: str) -> Response | None:
    """How an engine running `backend` answers a backend-canary request (None: not a canary).

    "guidance" answers exactly; "xgrammar" ignores x-guidance and refuses pattern+minLength, like
    vLLM's; "busy" answers 503.
    """
    schema = (body.get("structured_outputs") or {}).get("json")
    canary = next((c for c in CANARIES if c.schema == schema), None)
    if canary is None:
        return None
    if backend == "busy":
        return JSONResponse({"error": {"message": "busy"}}, status_code=503)
    text = canary.expected
    if backend == "xgrammar":
        if canary.name == "pattern":
            error = {"message": "features not supported by xgrammar", "code": 400}
            return JSONResponse({"error": error}, status_code=400)
        text = json.dumps(json.loads(text), separators=(",", ":"))
    return JSONResponse({"id": "c", "choices": [{"index": 0, "text": text}]})


def make_engine(
    name: str = "fake-model", *, delay_s: float = 0.0, backend: str = "guidance"
) -> FastAPI:
    """A FastAPI app answering like vLLM: /health, /v1/models, completions, chat, /metrics.

    `backend` ("guidance", "xgrammar", "busy"; `app.state.backend`) decides its canary answers.
    """
    app = FastAPI()
    app.state.backend = backend
    app.state.healthy = True
    app.state.running = 0
    app.state.bodies = []

    @app.get("/health")
    async def health() -> Response:
        return Response(status_code=200 if app.state.healthy else 503)

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {
            "object": "list",
            "data": [{"id": name, "root": f"/models/{name}", "max_model_len": 2048}],
        }

    @app.get("/metrics")
    async def metrics() -> PlainTextResponse:
        text = (
            "# HELP vllm:num_requests_running Running requests.\n"
            "# TYPE vllm:num_requests_running gauge\n"
            f'vllm:num_requests_running{{model_name="{name}"}} {app.state.running}\n'
        )
        return PlainTextResponse(text)

    async def generate(request: Request, chat: bool) -> Response:
        body = await request.json()
        canary = canary_answer(body, app.state.backend)
        if canary is not None:
            return canary
        app.state.bodies.append(body)
        if body.get("max_tokens") == 999_999:
            return JSONResponse(
                {
                    "error": {
                        "message": "too long",
                        "type": "BadRequestError",
                        "param": "max_tokens",
                        "code": 400,
                    }
                },
                status_code=400,
            )
        n_tokens = min(int(body.get("max_tokens") or 4), 64)  # like a model that stops early
        words = [WORDS[i % len(WORDS)] for i in range(n_tokens)]
        if body.get("stream"):
            return StreamingResponse(stream(words, chat), media_type="text/event-stream")
        await asyncio.sleep(delay_s)
        text = "".join(words)
        choice: dict[str, Any] = {"index": 0, "finish_reason": "length"}
        if chat:
            choice["message"] = {"role": "assistant", "content": text}
        else:
            choice["text"] = text
        return JSONResponse(
            {"id": "x", "choices": [choice], "usage": {"completion_tokens": n_tokens}}
        )

    async def stream(words: list[str], chat: bool) -> AsyncIterator[str]:
        app.state.running += 1
        try:
            for i, word in enumerate(words):
                await asyncio.sleep(delay_s)
                finish = "length" if i == len(words) - 1 else None
                part = {"delta": {"content": word}} if chat else {"text": word}
                chunk = {"id": "x", "choices": [{"index": 0, **part, "finish_reason": finish}]}
                yield f"data: {json.dumps(chunk)}\n\n"
            yield "data: [DONE]\n\n"
        finally:
            app.state.running -= 1

    @app.post("/v1/completions")
    async def completions(request: Request) -> Response:
        return await generate(request, chat=False)

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request) -> Response:
        return await generate(request, chat=True)

    return app
