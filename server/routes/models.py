"""/v1/models: every model the engines serve, with its compression format and source."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from server.engines import ModelCard
from server.errors import NotFound

router = APIRouter()


def _model_object(card: ModelCard, created: int) -> dict[str, Any]:
    return {
        "id": card.name,
        "object": "model",
        "created": created,
        "owned_by": "structserve",
        "max_model_len": card.max_model_len,
        "structserve": {
            "format": card.format,
            "compression_ratio": card.compression_ratio,
            "source": card.source,
            **card.extra,
        },
    }


@router.get("/v1/models")
async def list_models(request: Request) -> JSONResponse:
    """OpenAI's model list."""
    created = request.app.state.created
    cards = request.app.state.pool.known_models()
    return JSONResponse({"object": "list", "data": [_model_object(c, created) for c in cards]})


@router.get("/v1/models/{model:path}")
async def get_model(model: str, request: Request) -> JSONResponse:
    """One model, or 404."""
    for card in request.app.state.pool.known_models():
        if card.name == model:
            return JSONResponse(_model_object(card, request.app.state.created))
    raise NotFound(f"The model {model!r} does not exist.", param="model")
