"""Pure-ASGI middleware: request ids, body-size limit, API-key auth, request metrics.

Pure ASGI (not BaseHTTPMiddleware) so streaming responses and client disconnects pass
through untouched.
"""

from __future__ import annotations

import hmac
import json
import time
import uuid
from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.errors import AuthenticationError, PayloadTooLarge, StructServeError
from server.gateway_metrics import GatewayMetrics


async def _send_error(send: Send, exc: StructServeError) -> None:
    body = json.dumps(exc.body()).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(k.lower().encode(), v.encode()) for k, v in exc.headers.items()]
    await send({"type": "http.response.start", "status": exc.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class StatusRecorder:
    """An ASGI `send` that passes every message on and remembers the response's status."""

    def __init__(self, send: Send, *, default: int) -> None:
        """Args: send: the wrapped send; default: `status` until a response starts."""
        self._send = send
        self.status = default

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = int(message["status"])
        await self._send(message)


class HttpMiddleware:
    """Base of the gateway's pure-ASGI middleware: only HTTP requests reach `handle`; other
    scopes (lifespan) pass straight through."""

    def __init__(self, app: ASGIApp) -> None:
        """Args: app: the next ASGI app."""
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.handle(scope, receive, send)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one HTTP request (subclasses override)."""
        await self.app(scope, receive, send)


class RequestIdMiddleware(HttpMiddleware):
    """Gives every request an id (`x-request-id`, kept from the client when present)."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Set `scope["state"]["request_id"]` and echo it in the response headers."""
        given = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = given[:128] if given.isprintable() and given else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_id)


class BodyLimitMiddleware(HttpMiddleware):
    """413 for bodies over `max_bytes`, by Content-Length or by counting what arrives."""

    def __init__(
        self, app: ASGIApp, *, max_bytes: int, per_path: dict[str, int] | None = None
    ) -> None:
        """Args: max_bytes: the limit; per_path: other limits for paths under a prefix."""
        super().__init__(app)
        self.max_bytes = max_bytes
        self.per_path = per_path or {}

    def _limit(self, path: str) -> int:
        for prefix, limit in self.per_path.items():
            if path == prefix or path.startswith(prefix + "/"):
                return limit
        return self.max_bytes

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse an oversized body up front or as soon as it grows past the limit."""
        limit = self._limit(scope.get("path", ""))
        too_large = PayloadTooLarge(f"request body exceeds the limit of {limit} bytes")
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            await _send_error(send, too_large)
            return
        seen = 0

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise too_large
            return message

        await self.app(scope, counting_receive, send)


class ApiKeyMiddleware(HttpMiddleware):
    """Requires `Authorization: Bearer <key>` on every path except the public ones."""

    def __init__(self, app: ASGIApp, *, keys: list[str], public_paths: Iterable[str]) -> None:
        super().__init__(app)
        self.keys = [key.encode() for key in keys]
        self.public = frozenset(public_paths)

    def _authorized(self, header: bytes) -> bool:
        scheme, _, token = header.partition(b" ")
        if scheme.lower() != b"bearer" or not token:
            return False
        ok = False
        for key in self.keys:  # no early exit: time does not depend on which key matched
            ok |= hmac.compare_digest(token.strip(), key)
        return ok

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """401 unless the path is public or the request carries a configured key."""
        if not self.keys or scope["path"] in self.public:
            await self.app(scope, receive, send)
            return
        header = dict(scope["headers"]).get(b"authorization", b"")
        if not self._authorized(header):
            exc = AuthenticationError(
                "Missing or invalid API key: send `Authorization: Bearer <key>`.",
                headers={"WWW-Authenticate": "Bearer"},
            )
            await _send_error(send, exc)
            return
        await self.app(scope, receive, send)


class MetricsMiddleware(HttpMiddleware):
    """Counts requests by route and status, their duration, and requests in flight."""

    def __init__(self, app: ASGIApp, *, metrics: GatewayMetrics, routes: Iterable[str]) -> None:
        super().__init__(app)
        self.metrics = metrics
        self.routes = frozenset(routes)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the request, counting it (499 when it fails before a response starts)."""
        path = scope["path"]
        route = path if path in self.routes else "other"
        recorder = StatusRecorder(send, default=500)
        started = time.perf_counter()
        self.metrics.in_flight.inc()
        try:
            await self.app(scope, receive, recorder)
        except BaseException:
            recorder.status = 499 if recorder.status == 500 else recorder.status
            raise
        finally:
            self.metrics.in_flight.dec()
            self.metrics.requests.labels(route, str(recorder.status)).inc()
            self.metrics.duration.labels(route).observe(time.perf_counter() - started)
