"""build_app(settings, pool, supervisor) -> FastAPI: the OpenAI-compatible gateway."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from server.access_log import AccessLogMiddleware
from server.choice_sets import ChoiceSetService
from server.engines import EnginePool
from server.errors import (
    InvalidRequest,
    NotFound,
    ServerError,
    StructServeError,
    error_response,
)
from server.gateway_metrics import GatewayMetrics
from server.generation import ClientGone, GenerationService, Limits
from server.middleware import (
    ApiKeyMiddleware,
    BodyLimitMiddleware,
    MetricsMiddleware,
    RequestIdMiddleware,
)
from server.openapi import install_openapi
from server.responses import ResponsesService, ResponseStore
from server.routes import choice_sets as choice_sets_route
from server.routes import generate, health, models, responses
from server.routes import metrics as metrics_route
from server.settings import Settings
from server.structured import StructuredService
from server.structured.budget import BudgetPolicy
from server.supervisor import EngineSupervisor

log = logging.getLogger("structserve.app")

ROUTERS = (
    health.router,
    models.router,
    generate.router,
    responses.router,
    choice_sets_route.router,
    metrics_route.router,
)
CHOICE_SETS_PATH = "/v1/choice_sets"
ROUTES = (
    "/v1/chat/completions",
    "/v1/completions",
    "/v1/responses",
    "/v1/models",
    CHOICE_SETS_PATH,
    "/health",
    "/ready",
    "/metrics",
)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(StructServeError)
    async def _typed(_: Request, exc: StructServeError) -> Response:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> Response:
        return error_response(InvalidRequest(str(exc.errors()[:1])))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404:
            return error_response(NotFound(f"no such route: {exc.detail}", code="not_found"))
        err = InvalidRequest(str(exc.detail), code=f"http_{exc.status_code}")
        err.status_code = exc.status_code
        return error_response(err)

    @app.exception_handler(ClientGone)
    async def _gone(_: Request, __: ClientGone) -> Response:
        return Response(status_code=499)  # nobody reads it; recorded in metrics and logs

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> Response:
        log.exception("unhandled error", exc_info=exc)
        return error_response(ServerError("internal error in the gateway"))


def _lifespan(
    pool: EnginePool, supervisor: EngineSupervisor | None
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """Start the supervisor, the health probes and the compile worker; stop all on shutdown."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if supervisor is not None:
            supervisor.start()
        pool.start()
        await asyncio.to_thread(app.state.structured.start)
        await asyncio.to_thread(app.state.choice_sets.store.sweep)
        purge = asyncio.create_task(app.state.responses.purge_forever())
        try:
            yield
        finally:
            app.state.draining = True
            purge.cancel()
            await pool.stop()
            await asyncio.to_thread(app.state.responses.store.close)
            app.state.structured.close()
            if supervisor is not None:
                await supervisor.stop()
            await pool.client.aclose()

    return lifespan


def _install_middleware(app: FastAPI, settings: Settings, metrics: GatewayMetrics) -> None:
    public = {"/health", "/ready"} | (set() if settings.metrics_require_auth else {"/metrics"})
    # Outermost last: ids -> access log -> metrics -> auth -> body limit -> app.
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=settings.max_body_bytes,
        per_path={CHOICE_SETS_PATH: settings.choice_set_max_body_bytes},
    )
    app.add_middleware(ApiKeyMiddleware, keys=settings.api_key_values(), public_paths=public)
    app.add_middleware(MetricsMiddleware, metrics=metrics, routes=ROUTES)
    app.add_middleware(AccessLogMiddleware, routes=ROUTES)
    app.add_middleware(RequestIdMiddleware)


def _choice_sets(
    settings: Settings,
    supervisor: EngineSupervisor | None,
    metrics: GatewayMetrics,
    structured: StructuredService,
) -> ChoiceSetService:
    """The choice-set service for the supervised engine's model (or `choice_sets_tokenizer`);
    refused when that engine speculates (vLLM loads no custom logits processor then)."""
    spec = supervisor.spec if supervisor is not None else None
    speculates = spec is not None and "--speculative-config" in spec.extra_args
    return ChoiceSetService.from_settings(
        settings,
        metrics,
        model_folder=Path(spec.model_path) if spec is not None else None,
        refusal="the engine runs speculative decoding" if speculates else None,
        inline_above=structured.limits.max_choices,
    )


def _budget_policy(settings: Settings, choice_sets: ChoiceSetService) -> BudgetPolicy:
    """Budget closing: the server default, refused where choice sets are (the same engine
    limit), its minimum-document check counted with the choice sets' tokenizer when there is
    one."""

    def count_tokens() -> Callable[[str], int] | None:
        try:
            tokenizer = choice_sets.tokenizer().tokenizer
        except InvalidRequest:
            return None
        return lambda text: len(tokenizer.encode(text, add_special_tokens=False).ids)

    def marker() -> int | None:
        try:
            return choice_sets.tokenizer().stop_marker
        except InvalidRequest:
            return None

    return BudgetPolicy(
        default=settings.structured_close_on_budget,
        refusal=choice_sets.refusal,
        count_tokens=count_tokens,
        marker=marker,
    )


def build_app(
    settings: Settings,
    pool: EnginePool,
    supervisor: EngineSupervisor | None = None,
    metrics: GatewayMetrics | None = None,
    choice_sets: ChoiceSetService | None = None,
) -> FastAPI:
    """Assemble the gateway.

    Args:
        settings: validated settings.
        pool: the engines to route to (started and stopped with the app).
        supervisor: the local engine's supervisor, when `serve` runs one.
        metrics: the metrics registry (a fresh one by default).
        choice_sets: the choice-set service (default: over the settings' store, compiling with
            the supervised engine's model folder or `choice_sets_tokenizer`).

    Returns:
        The FastAPI application.
    """
    metrics = metrics or GatewayMetrics()
    app = FastAPI(title="structserve", version="0.1.0", lifespan=_lifespan(pool, supervisor))
    app.state.settings = settings
    app.state.pool = pool
    app.state.supervisor = supervisor
    app.state.metrics = metrics
    app.state.created = int(time.time())
    app.state.draining = False
    structured = StructuredService.from_settings(settings)
    app.state.structured = structured
    limits = Limits.from_settings(settings)
    choice_sets = choice_sets or _choice_sets(settings, supervisor, metrics, structured)
    app.state.choice_sets = choice_sets
    budget = _budget_policy(settings, choice_sets)
    app.state.generation = GenerationService(pool, metrics, limits, structured, choice_sets, budget)
    app.state.responses = ResponsesService(
        app.state.generation,
        ResponseStore(settings.responses_db_path()),
        retention_days=settings.responses_retention_days,
    )
    for router in ROUTERS:
        app.include_router(router)
    _install_error_handlers(app)
    install_openapi(app)
    _install_middleware(app, settings, metrics)
    return app
