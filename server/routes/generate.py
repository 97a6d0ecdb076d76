"""/v1/completions and /v1/chat/completions."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from server.protocol import ChatCompletionRequest, CompletionRequest

router = APIRouter()


@router.post("/v1/chat/completions")
async def chat_completions(request: Request) -> Response:
    """OpenAI chat completions (streaming or not)."""
    service = request.app.state.generation
    return await service.handle(request, "/v1/chat/completions", ChatCompletionRequest)


@router.post("/v1/completions")
async def completions(request: Request) -> Response:
    """OpenAI text completions (streaming or not)."""
    service = request.app.state.generation
    return await service.handle(request, "/v1/completions", CompletionRequest)
