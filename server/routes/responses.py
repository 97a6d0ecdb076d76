"""/v1/responses: create (streaming or not), retrieve, delete, list input items."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

router = APIRouter()


@router.post("/v1/responses")
async def create_response(request: Request) -> Response:
    """OpenAI Responses API: create a response (streaming or not)."""
    return await request.app.state.responses.create(request)


@router.get("/v1/responses/{response_id}")
async def retrieve_response(request: Request, response_id: str) -> dict[str, Any]:
    """A stored response (404 when unknown or created with store: false)."""
    return await request.app.state.responses.retrieve(response_id)


@router.delete("/v1/responses/{response_id}")
async def delete_response(request: Request, response_id: str) -> dict[str, Any]:
    """Delete a stored response."""
    return await request.app.state.responses.delete(response_id)


@router.get("/v1/responses/{response_id}/input_items")
async def list_input_items(
    request: Request,
    response_id: str,
    order: str = "desc",
    limit: int = 20,
    after: str | None = None,
) -> dict[str, Any]:
    """The whole input of a stored response (a replayed conversation included), paged."""
    service = request.app.state.responses
    return await service.input_items(response_id, order=order, limit=limit, after=after)
