"""Forwarding of completion and chat requests to an engine: validate, route, relay, measure."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
from fastapi import Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from server import json_body
from server.choice_schema import uses_choice_sets
from server.choice_sets import BACKEND as CHOICE_SET_BACKEND
from server.choice_sets import ChoiceSetService
from server.echo import echoed_prompts
from server.engines import Endpoint, EnginePool
from server.errors import (
    EngineError,
    EngineTimeout,
    EngineUnavailable,
    InvalidRequest,
    RateLimited,
    RequestTimeout,
    StructServeError,
    from_status,
)
from server.gateway_metrics import GatewayMetrics
from server.protocol import parse_request
from server.streaming import (
    StreamObserver,
    annotate_choice,
    choice_text,
    relay,
    sse_response,
)
from server.structured import StructuredPlan, StructuredService, plan_request
from server.structured.budget import BudgetPolicy
from server.tools import ToolPlan, aplan_tools, apply_tool_calls, tool_stream, wants_tools
from server.tools.collect import ChatCollector
from server.tools.repeat_stop import STOPPED, RepeatWatch, engine_stream_body

if TYPE_CHECKING:
    from server.settings import Settings

log = logging.getLogger("structserve.requests")
_T = TypeVar("_T")

# Seconds a client is told to wait: 429 (admission full) clears as soon as one request ends;
# 503 (no ready engine) lasts at least one health probe, longer while the engine restarts.
RETRY_AFTER = {429: "1", 503: "5"}


class ClientGone(Exception):
    """The client disconnected before the answer was ready."""


@dataclass(frozen=True)
class Limits:
    """Per-request limits the service enforces."""

    max_n: int
    request_timeout_s: float
    log_prompts: bool
    max_outstanding: int = 256
    body_read_timeout_s: float = 30.0
    tool_prompt: str = "builtin"
    tool_dedupe: bool = True
    tool_repeat_stop: bool = True

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        """The limits the gateway settings configure."""
        return cls(
            max_n=settings.max_n,
            request_timeout_s=settings.request_timeout_s,
            log_prompts=settings.log_prompts,
            max_outstanding=settings.max_outstanding_requests,
            body_read_timeout_s=settings.body_read_timeout_s,
            tool_prompt=settings.tool_prompt,
            tool_dedupe=settings.tool_dedupe,
            tool_repeat_stop=settings.tool_repeat_stop,
        )


def decode_body(raw: bytes) -> Any:
    """Decode a JSON request body; 400 for anything that is not UTF-8 JSON."""
    if not raw:
        raise InvalidRequest("request body is empty; expected a JSON object")
    try:
        return json_body.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise InvalidRequest("request body is not valid UTF-8") from None
    except ValueError as exc:
        raise InvalidRequest(f"request body is not valid JSON: {exc}") from None


async def upstream_error(response: httpx.Response) -> StructServeError:
    """Turn an engine's non-200 answer into a typed error, keeping its message and param.

    A 429 or 503 always carries `Retry-After` (the engine's, else the gateway's default).
    """
    raw = await response.aread()
    message, param = f"engine returned HTTP {response.status_code}", None
    try:
        err = json.loads(raw).get("error", {})
        if isinstance(err, dict):
            message = str(err.get("message") or message)
            param = err.get("param")
    except (ValueError, AttributeError):
        pass
    exc = from_status(response.status_code, message, param=param)
    if response.status_code in RETRY_AFTER:
        retry = response.headers.get("retry-after") or RETRY_AFTER[response.status_code]
        exc.headers = {**exc.headers, "Retry-After": retry}
    return exc


async def until_disconnect(request: Request, work: Awaitable[_T], poll_s: float = 0.2) -> _T:
    """Await `work`, cancelling it (and so the engine request) if the client disconnects."""
    task = asyncio.ensure_future(work)
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=poll_s)
            if done:
                return task.result()
            if await request.is_disconnected():
                raise ClientGone
    finally:
        if not task.done():
            task.cancel()


def _stops_at_repeat(plan: StructuredPlan | None) -> bool:
    """Whether the gateway reads the answer as a stream to end it at a repeated call."""
    return isinstance(plan, ToolPlan) and plan.stop_at_repeat


def _asks_structured(body: dict[str, Any]) -> bool:
    """Whether a body carries any structured-output field the policy must look at."""
    return body.get("response_format") is not None or body.get("structured_outputs") is not None


@dataclass(frozen=True)
class _Call:
    """One request on its way to an engine: where it goes and what is checked on the way back."""

    request: Request
    route: str
    endpoint: Endpoint
    body: dict[str, Any]
    plan: StructuredPlan | None
    started: float


class GenerationService:
    """Handles POST /v1/completions and /v1/chat/completions."""

    def __init__(
        self,
        pool: EnginePool,
        metrics: GatewayMetrics,
        limits: Limits,
        structured: StructuredService | None = None,
        choice_sets: ChoiceSetService | None = None,
        budget: BudgetPolicy | None = None,
    ) -> None:
        self.pool = pool
        self.budget = budget
        self.metrics = metrics
        self.limits = limits
        self.structured = structured
        self.choice_sets = choice_sets

    async def handle(self, request: Request, route: str, model: type[BaseModel]) -> Response:
        """Validate the body, forward it to the least-loaded engine, relay the answer."""
        started = time.perf_counter()
        body = await self.read_body(request)
        return await self.handle_body(request, route, model, body, started=started)

    async def read_body(self, request: Request) -> Any:
        """The request's decoded JSON body, read within the body-read timeout (408 past it,
        400 for anything that is not UTF-8 JSON)."""
        try:
            raw = await asyncio.wait_for(request.body(), self.limits.body_read_timeout_s)
        except TimeoutError:
            raise RequestTimeout("the request body did not arrive in time") from None
        return decode_body(raw)

    async def handle_body(
        self,
        request: Request,
        route: str,
        model: type[BaseModel],
        body: Any,
        *,
        started: float | None = None,
    ) -> Response:
        """Validate an already decoded body, forward it, relay the answer (what `handle` does
        after reading the body; the Responses API calls it with a chat body it built).

        Args:
            request: the client's request (its disconnect cancels the engine request).
            route: the engine route, e.g. "/v1/chat/completions".
            model: the pydantic model validating `body`.
            body: the decoded JSON body (rewritten in place by the structured-output policy).
            started: `time.perf_counter()` when the request arrived (default: now).

        Returns:
            A JSONResponse (whole answer) or a StreamingResponse (SSE chunks, `data: {...}`).
        """
        started = time.perf_counter() if started is None else started
        parsed = parse_request(model, body)
        n = int(getattr(parsed, "n", 1))
        if n > self.limits.max_n:
            raise InvalidRequest(f"n: at most {self.limits.max_n} choices per request", param="n")
        chat = route.endswith("/chat/completions")
        # before admission: no await between it and dispatch
        plan = await self._plan(body, chat=chat)
        if self.budget is not None and (self.budget.default or "close_on_budget" in body):
            await asyncio.to_thread(self.budget.apply, body, plan)  # the shortest document
        body.pop("close_on_budget", None)
        self._admit()
        # a choice set is enforced by our logits processor, not the canary-verified grammar backend
        grammar = plan is not None and plan.backend != CHOICE_SET_BACKEND
        strict = grammar and plan is not None and plan.strict
        endpoint = self.pool.pick(str(body["model"]), structured=grammar, strict=strict)
        if plan is not None and grammar:
            plan.backend = endpoint.backend_label()  # what this engine was verified to enforce
        if self.limits.log_prompts:
            log.info("request %s body=%s", request.state.request_id, json.dumps(body)[:4000])
        call = _Call(request, route, endpoint, body, plan, started)
        if body.get("stream"):
            return await self._stream(call)
        return await self._unary(call)

    async def _plan(self, body: dict[str, Any], *, chat: bool) -> StructuredPlan | None:
        """The structured-output plan (compile check off the event loop); counts refusals."""
        try:
            if chat and wants_tools(body):  # the body becomes plain chat + a grammar
                return await aplan_tools(
                    body,
                    self.structured,
                    tool_prompt=self.limits.tool_prompt,
                    dedupe=self.limits.tool_dedupe,
                    repeat_stop=self.limits.tool_repeat_stop,
                )
            if self.choice_sets is not None and self.choice_sets.wants(body):
                return await self.choice_sets.plan(body)
            if self.structured is None or not _asks_structured(body):
                return plan_request(body)  # cheap: no thread hop on the plain path
            limits = None
            if self.choice_sets is not None and uses_choice_sets(body):
                limits = await self.choice_sets.expand_schemas(body, self.structured.limits)
            return await self.structured.aplan(body, limits)
        except InvalidRequest as exc:
            self.metrics.structured_rejections.labels(exc.code or "invalid_request").inc()
            raise

    def _admit(self) -> None:
        """429 when the engines already hold as many requests as the admission bound allows."""
        outstanding = sum(ep.outstanding for ep in self.pool.endpoints)
        if outstanding >= self.limits.max_outstanding:
            raise RateLimited(
                f"server busy: {outstanding} requests in flight; retry shortly",
                headers={"Retry-After": RETRY_AFTER[429]},
            )

    def _engine_failure(
        self, call: _Call, exc: TimeoutError | httpx.TransportError, *, timeout: str, down: str
    ) -> StructServeError:
        """Count a failed engine call and turn it into the client's error: 504, else 503."""
        if isinstance(exc, TimeoutError | httpx.TimeoutException):
            self.metrics.request_timeouts.labels(call.route).inc()
            return EngineTimeout(timeout)
        self.pool.mark_down(call.endpoint, f"{type(exc).__name__}: {exc}")
        return EngineUnavailable(down, headers={"Retry-After": RETRY_AFTER[503]})

    async def _engine_work(self, call: _Call, work: Awaitable[_T], deadline: float) -> _T:
        """Await `work` (talking to the engine) under the request's deadline (event-loop time),
        cancelling it when the client goes; cancelling closes the connection, and vLLM aborts.
        Timeouts are 504, transport errors 503 (the engine marked down)."""
        try:
            async with asyncio.timeout_at(deadline):
                return await until_disconnect(call.request, work)
        except ClientGone:
            self.metrics.client_disconnects.labels(call.route).inc()
            raise
        except (TimeoutError, httpx.TransportError) as exc:
            timeout_s = self.limits.request_timeout_s
            raise self._engine_failure(
                call,
                exc,
                timeout=f"the engine did not answer within the request timeout ({timeout_s:g} s)",
                down="the engine failed while serving the request; retry shortly",
            ) from None

    async def _unary(self, call: _Call) -> Response:
        if _stops_at_repeat(call.plan):
            return await self._unary_collected(call)
        timeout_s = self.limits.request_timeout_s
        deadline = asyncio.get_running_loop().time() + timeout_s
        url = f"{call.endpoint.url}{call.route}"
        call.endpoint.outstanding += 1
        try:
            post = self.pool.client.post(url, json=call.body, timeout=timeout_s)
            response = await self._engine_work(call, post, deadline)
        finally:
            call.endpoint.outstanding -= 1
        if response.status_code != 200:
            raise await upstream_error(response)
        try:
            data = response.json()
        except ValueError:
            raise EngineError("the engine answered with invalid JSON") from None
        return await self._checked(call, data)

    async def _unary_collected(self, call: _Call) -> Response:
        """A unary tools answer read from the engine's stream, which is closed (aborting the
        engine request) at the first repeated call (`server.tools.repeat_stop`)."""
        assert isinstance(call.plan, ToolPlan)
        deadline = asyncio.get_running_loop().time() + self.limits.request_timeout_s
        upstream = await self._open_stream(call, deadline, engine_stream_body(call.body))
        collector = ChatCollector(RepeatWatch(call.plan.allow_text))
        try:
            await self._engine_work(call, collector.read(upstream.aiter_lines()), deadline)
        finally:
            call.endpoint.outstanding -= 1
            await upstream.aclose()
        return await self._checked(call, collector.answer(), stopped=collector.stopped)

    async def _checked(self, call: _Call, data: Any, *, stopped: bool = False) -> Response:
        """The engine's whole answer, each choice checked against the structured plan (off the
        event loop, all choices at once, each under the verdict deadline); `stopped`: ended at
        a repeated call (said in the verdict)."""
        call.request.state.usage = data.get("usage") if isinstance(data, dict) else None
        if call.plan is not None:
            echoed = await self._echoed(call)
            n = int(call.body.get("n") or 1)
            verdicts = await asyncio.gather(
                *(
                    annotate_choice(call.plan, c, choice_text(c), echoed=echoed, n=n)
                    for c in data.get("choices", [])
                )
            )
            for result in verdicts:
                if result.get("valid") is False:
                    self.metrics.structured_validation_failures.inc()
                if stopped:
                    result[STOPPED] = True
            apply_tool_calls(data, call.plan)
        return JSONResponse(data)

    async def _echoed(self, call: _Call) -> list[str | None] | None:
        """The prompts the engine echoes before the outputs (`echo: true`), else None."""
        return await echoed_prompts(call.body, self.pool.client, call.endpoint.url)

    async def _stream(self, call: _Call) -> Response:
        deadline = asyncio.get_running_loop().time() + self.limits.request_timeout_s
        echoed = await self._echoed(call) if call.plan is not None else None
        stops = _stops_at_repeat(call.plan)
        upstream = await self._open_stream(
            call, deadline, engine_stream_body(call.body) if stops else call.body
        )
        observer = StreamObserver(
            started=call.started,
            on_ttft=self.metrics.ttft.labels(call.route).observe,
            on_itl=self.metrics.itl.labels(call.route).observe,
            plan=call.plan,
            echoed=echoed,
            n=int(call.body.get("n") or 1),
        )

        async def body_iter() -> AsyncIterator[bytes]:
            try:
                events = relay(
                    upstream,
                    observer,
                    deadline=deadline,
                    on_transport_error=lambda why: self.pool.mark_down(call.endpoint, why),
                    on_timeout=self.metrics.request_timeouts.labels(call.route).inc,
                )
                options = call.body.get("stream_options")
                async for event in tool_stream(events, call.plan, options):
                    call.endpoint.last_output_at = time.monotonic()  # alive: see _probe_failed
                    yield event
            except asyncio.CancelledError:
                self.metrics.client_disconnects.labels(call.route).inc()
                raise
            finally:
                call.request.state.usage = observer.usage  # for the access log
                call.endpoint.outstanding -= 1
                await upstream.aclose()

        return sse_response(body_iter())

    async def _open_stream(
        self, call: _Call, deadline: float, body: dict[str, Any]
    ) -> httpx.Response:
        """Start the engine's stream of `body` (the call's, or what the gateway asks instead);
        on success `call.endpoint.outstanding` stays counted."""
        timeout_s = self.limits.request_timeout_s
        upstream_req = self.pool.client.build_request(
            "POST",
            f"{call.endpoint.url}{call.route}",
            json=body,
            timeout=httpx.Timeout(timeout_s, connect=10.0),
        )
        call.endpoint.outstanding += 1
        try:
            async with asyncio.timeout_at(deadline):
                send = self.pool.client.send(upstream_req, stream=True)
                upstream = await until_disconnect(call.request, send)
        except BaseException as exc:
            call.endpoint.outstanding -= 1
            if isinstance(exc, TimeoutError | httpx.TransportError):
                raise self._engine_failure(
                    call,
                    exc,
                    timeout=f"the engine did not start the stream within {timeout_s:g} s",
                    down="the engine is not reachable; retry shortly",
                ) from None
            raise
        if upstream.status_code != 200:
            call.endpoint.outstanding -= 1
            try:
                raise await upstream_error(upstream)
            finally:
                await upstream.aclose()
        return upstream
