"""A fake vLLM engine whose outputs a test chooses (e.g. invalid ones, to provoke a verdict), with
vLLM's `echo`, `n`, prompt lists, token-id prompts and `/detokenize` (fast unit tests only)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from tests.unit.server.fake_engine import canary_answer

Outputs = Callable[[dict[str, Any], int], str]
"""(request body, choice index) -> the generated text of that choice."""


def detokenize(tokens: list[int]) -> str:
    """This engine's tokenizer: token t is the letter chr(97 + t % 26) followed by a blank."""
    return "".join(f"{chr(97 + t % 26)} " for t in tokens)


def _prompts(body: dict[str, Any]) -> list[str]:
    prompt = body.get("prompt")
    if isinstance(prompt, str):
        return [prompt]
    if prompt and isinstance(prompt[0], int):
        return [detokenize(prompt)]
    return [p if isinstance(p, str) else detokenize(p) for p in prompt or []]


def _chat_echo(body: dict[str, Any]) -> str:
    """vLLM chat `echo`: the last message's content when it is the assistant's."""
    last = (body.get("messages") or [{}])[-1]
    return str(last.get("content") or "") if last.get("role") == "assistant" else ""


def _choices(body: dict[str, Any], outputs: Outputs) -> list[tuple[int, str, str]]:
    """(index, echoed prefix, generated text) per choice; index = prompt index * n + j."""
    n = int(body.get("n") or 1)
    prompts = _prompts(body) if "prompt" in body else [_chat_echo(body)]
    echo = bool(body.get("echo"))
    return [
        (i * n + j, prompt if echo else "", outputs(body, i * n + j))
        for i, prompt in enumerate(prompts)
        for j in range(n)
    ]


def _part(text: str, chat: bool, *, delta: bool) -> dict[str, Any]:
    if not chat:
        return {"text": text}
    return (
        {"delta": {"content": text}}
        if delta
        else {"message": {"role": "assistant", "content": text}}
    )


def _pieces(text: str, size: int | None) -> list[str]:
    """A stream's pieces: halves (size None), else `size` characters each."""
    if size is None:
        return [text[: len(text) // 2], text[len(text) // 2 :]]
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def _usage(generated: int) -> dict[str, int]:
    return {"prompt_tokens": 1, "completion_tokens": generated, "total_tokens": 1 + generated}


def make_scripted_engine(
    outputs: Outputs, *, name: str = "fake-model", piece: int | None = None
) -> FastAPI:
    """An engine answering every choice with `outputs(body, index)`, finish_reason "stop";
    streams send each choice in halves, or in pieces of `piece` characters. Usage counts one
    token per character (in every chunk with `stream_options.continuous_usage_stats`)."""
    app = FastAPI()
    app.state.bodies = []

    @app.get("/health")
    async def health() -> Response:
        return Response(status_code=200)

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": name, "max_model_len": 2048}]}

    @app.post("/detokenize")
    async def detokenize_route(request: Request) -> dict[str, Any]:
        return {"prompt": detokenize((await request.json())["tokens"])}

    async def generate(request: Request, chat: bool) -> Response:
        body = await request.json()
        canary = canary_answer(body, "guidance")  # the gateway verifies the backend first
        if canary is not None:
            return canary
        app.state.bodies.append(body)
        choices = _choices(body, outputs)
        kind = "chat.completion" if chat else "text_completion"
        if body.get("stream"):
            events = _stream(choices, chat, kind, body.get("stream_options") or {})
            return StreamingResponse(events, media_type="text/event-stream")
        whole = [
            {"index": i, **_part(echo + text, chat, delta=False), "finish_reason": "stop"}
            for i, echo, text in choices
        ]
        usage = {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}
        return JSONResponse(
            {
                "id": "x",
                "object": kind,
                "created": 0,
                "model": name,
                "choices": whole,
                "usage": usage,
            }
        )

    async def _stream(
        choices: list[tuple[int, str, str]], chat: bool, kind: str, options: dict[str, Any]
    ) -> AsyncIterator[str]:
        """Like vLLM: the echoed prompt rides with the first piece; then pieces; then the finish;
        usage as `options` ask."""
        obj = f"{kind}.chunk" if chat else kind
        head = {"id": "x", "object": obj, "created": 0, "model": name}
        generated = 0
        for i, echo, text in choices:
            parts = _pieces(text, piece)
            for j, part in enumerate(parts):
                finish = "stop" if j == len(parts) - 1 else None
                part = echo + part if j == 0 else part
                choice = {"index": i, **_part(part, chat, delta=True), "finish_reason": finish}
                if chat and j == 0:
                    choice["delta"]["role"] = "assistant"  # vLLM names the role first
                generated += len(part)
                chunk = {**head, "choices": [choice]}
                if options.get("include_usage") and options.get("continuous_usage_stats"):
                    chunk["usage"] = _usage(generated)
                yield f"data: {json.dumps(chunk)}\n\n"
        if options.get("include_usage"):
            yield f"data: {json.dumps({**head, 'choices': [], 'usage': _usage(generated)})}\n\n"
        yield "data: [DONE]\n\n"

    def route(chat: bool) -> Callable[[Request], Awaitable[Response]]:
        async def handler(request: Request) -> Response:
            return await generate(request, chat)

        return handler

    app.add_api_route("/v1/completions", route(False), methods=["POST"])
    app.add_api_route("/v1/chat/completions", route(True), methods=["POST"])
    return app
