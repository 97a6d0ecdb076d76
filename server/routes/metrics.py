"""/metrics: the gateway's own metrics followed by every engine's `vllm:*` metrics."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST

from server.engine_metrics import scrape_engine

router = APIRouter()


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    """Prometheus text exposition."""
    state = request.app.state
    state.metrics.set_engine_ready(state.pool.endpoints)
    urls = [ep.url for ep in state.pool.endpoints]
    engines = await asyncio.gather(*(scrape_engine(state.pool.client, url) for url in urls))
    body = state.metrics.render() + "".join(engines).encode()
    return Response(body, media_type=CONTENT_TYPE_LATEST)
