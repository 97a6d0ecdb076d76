"""/metrics: the gateway's own metrics followed by every engine's `vllm:*` metrics."""

from __future__ import annotations

import asyncio
import logging

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST

from server.engines import Endpoint, EnginePool
from server.metrics import relabel_engine_metrics
from server.spec_metrics import derived_spec_metrics

router = APIRouter()
log = logging.getLogger("structserve.metrics")


async def _engine_text(pool: EnginePool, ep: Endpoint) -> str:
    try:
        response = await pool.client.get(f"{ep.url}/metrics", timeout=5.0)
        response.raise_for_status()
        return relabel_engine_metrics(response.text, ep.url) + derived_spec_metrics(
            response.text, ep.url
        )
    except (httpx.HTTPError, ValueError) as exc:
        log.debug("metrics of %s unavailable: %s", ep.url, exc)
        return ""


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    """Prometheus text exposition."""
    state = request.app.state
    for ep in state.pool.endpoints:
        state.metrics.engine_ready.labels(ep.url).set(1.0 if ep.ready else 0.0)
    engines = await asyncio.gather(*(_engine_text(state.pool, ep) for ep in state.pool.endpoints))
    body = state.metrics.render() + "".join(engines).encode()
    return Response(body, media_type=CONTENT_TYPE_LATEST)
