"""One access-log line per request: id, method, route, status, duration, tokens. Never a prompt,
never a header value (so never an API key).

The route is the matched route's template (`/v1/models/{model}`), not the raw path, so a
client cannot write arbitrary text into the log through the URL; unmatched paths log as
"other". A request refused before routing (401, 413) logs its path when it is one of the
gateway's fixed routes. Token counts come from `scope["state"]["usage"]`, which the generation
service fills from the engine's `usage` (unary answers, and streams with `include_usage`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from server.middleware import HttpMiddleware, StatusRecorder

log = logging.getLogger("structserve.access")


def _route(scope: Scope, known: frozenset[str]) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path
    raw = scope.get("path")
    return raw if raw in known else "other"


def _tokens(state: dict[str, Any]) -> str:
    usage = state.get("usage")
    if not isinstance(usage, dict):
        return "prompt_tokens=- completion_tokens=-"
    prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
    return f"prompt_tokens={_count(prompt)} completion_tokens={_count(completion)}"


def _count(value: object) -> str:
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else "-"


class AccessLogMiddleware(HttpMiddleware):
    """Logs `request id=… method=… route=… status=… duration_ms=… prompt_tokens=…
    completion_tokens=…` on logger `structserve.access` (INFO) when each response ends."""

    def __init__(self, app: ASGIApp, *, routes: Iterable[str] = ()) -> None:
        """Args: app: the next ASGI app; routes: fixed paths logged as such even when a
        middleware answers before routing."""
        super().__init__(app)
        self.routes = frozenset(routes)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the request, then log its line (also when the app raised)."""
        started = time.perf_counter()
        recorder = StatusRecorder(send, default=0)
        try:
            await self.app(scope, receive, recorder)
        finally:
            state = scope.get("state") or {}
            log.info(
                "request id=%s method=%s route=%s status=%s duration_ms=%.1f %s",
                state.get("request_id", "-"),
                str(scope.get("method", "-"))[:16],
                _route(scope, self.routes),
                recorder.status or 499,  # no response started: the client left or the app raised
                (time.perf_counter() - started) * 1000,
                _tokens(state),
            )
