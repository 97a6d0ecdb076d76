"""/health (the gateway process is alive) and /ready (an engine serves every model)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

router = APIRouter()


@router.get("/health")
async def health() -> JSONResponse:
    """Liveness: 200 while the gateway process runs."""
    return JSONResponse({"status": "ok"})


@router.get("/ready")
async def ready(request: Request) -> JSONResponse:
    """Readiness: 200 when every model has a ready engine, else 503."""
    pool = request.app.state.pool
    ok = pool.is_ready() and not request.app.state.draining
    body = {"ready": ok, "engines": [ep.status() for ep in pool.endpoints]}
    return JSONResponse(body, status_code=200 if ok else 503)
