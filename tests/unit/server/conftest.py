"""Gateway apps wired to fake engines through in-process ASGI transports, and the one
llguidance compile worker the structured-output and tool-calling unit tests share."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from server.app import build_app
from server.engines import EnginePool
from server.settings import Settings
from server.structured import StructuredService
from tests.unit.server.fake_engine import make_engine


class _Router(httpx.AsyncBaseTransport):
    """Sends each request to the fake engine whose base URL it targets."""

    def __init__(self, engines: dict[str, FastAPI]) -> None:
        self.transports = {host: httpx.ASGITransport(app=app) for host, app in engines.items()}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        transport = self.transports.get(request.url.host)
        if transport is None:
            raise httpx.ConnectError("no such engine", request=request)
        return await transport.handle_async_request(request)


GatewayFactory = Callable[..., Any]


@pytest.fixture(scope="session")
def service() -> Iterator[StructuredService]:
    """One started llguidance compile worker for the whole session."""
    svc = StructuredService()
    svc.start()
    yield svc
    svc.close()


@pytest.fixture
async def make_gateway(tmp_path: Path) -> AsyncIterator[GatewayFactory]:
    """Factory: (engines: {host: app}, **settings) -> (client to the gateway, app, pool).

    Stored responses and choice sets go to temp paths unless `responses_db`/`choice_sets_dir`
    are given.
    """
    stack: list[Any] = []

    async def make(engines: dict[str, FastAPI] | None = None, **overrides: Any) -> Any:
        engines = engines if engines is not None else {"engine-a": make_engine()}
        defaults = {
            "health_interval_s": 0.05,
            "responses_db": tmp_path / "responses.sqlite",
            "choice_sets_dir": tmp_path / "choice_sets",
        }
        settings = Settings(**{**defaults, **overrides})
        client = httpx.AsyncClient(transport=_Router(engines))
        urls = [f"http://{host}" for host in engines] or ["http://missing"]
        pool = EnginePool(urls, client=client, probe_interval_s=0.05)
        app = build_app(settings, pool)
        ctx = app.router.lifespan_context(app)
        await ctx.__aenter__()
        stack.append(ctx)
        await pool.probe_due()
        gw = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway")
        stack.append(gw)
        return gw, app, pool

    yield make
    for item in reversed(stack):
        if isinstance(item, httpx.AsyncClient):
            await item.aclose()
        else:
            await item.__aexit__(None, None, None)
