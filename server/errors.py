"""One exception tree for the gateway, mapped to OpenAI error JSON in one place.

Routes raise these; `error_response` turns any of them into the HTTP answer.
"""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

MAX_MESSAGE_CHARS = 2048  # a message quoting client input never echoes a huge input back


class StructServeError(Exception):
    """Base of every error the gateway reports to a client."""

    status_code = 500
    error_type = "server_error"
    code: str | None = None

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        if len(message) > MAX_MESSAGE_CHARS:
            message = message[: MAX_MESSAGE_CHARS - 15] + "... (truncated)"
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code
        self.headers = headers or {}

    def __init_subclass__(
        cls,
        *,
        status: int | None = None,
        kind: str | None = None,
        code: str | None = None,
        **kwargs: Any,
    ) -> None:
        """Subclasses declare their HTTP status, OpenAI error type and default code inline."""
        super().__init_subclass__(**kwargs)
        if status is not None:
            cls.status_code = status
        if kind is not None:
            cls.error_type = kind
        if code is not None:
            cls.code = code

    def body(self) -> dict[str, Any]:
        """The OpenAI error object: {"error": {"message", "type", "param", "code"}}."""
        return {
            "error": {
                "message": self.message,
                "type": self.error_type,
                "param": self.param,
                "code": self.code,
            }
        }


class ClientError(StructServeError, status=400, kind="invalid_request_error"):
    """4xx: the request is at fault."""


class InvalidRequest(ClientError, code="invalid_request"):
    """400: malformed body or a parameter out of range."""


class AuthenticationError(
    ClientError, status=401, kind="authentication_error", code="invalid_api_key"
):
    """401: missing or wrong API key."""


class NotFound(ClientError, status=404, kind="not_found_error", code="model_not_found"):
    """404: unknown model or route."""


class RequestTimeout(ClientError, status=408, code="request_timeout"):
    """408: the client took too long to send its request."""


class Conflict(ClientError, status=409, code="conflict"):
    """409: the resource exists in another state (e.g. a choice set name holding other items)."""


class PayloadTooLarge(ClientError, status=413, code="payload_too_large"):
    """413: the body exceeds the configured limit."""


class RateLimited(ClientError, status=429, kind="rate_limit_error", code="rate_limit_exceeded"):
    """429: the admission queue is full; retry later."""


class ServerError(StructServeError, status=500, kind="server_error", code="internal_error"):
    """5xx: the gateway or the engine is at fault."""


class EngineError(ServerError, status=502, code="engine_error"):
    """502: the engine answered with something the gateway cannot relay."""


class EngineUnavailable(
    ServerError, status=503, kind="service_unavailable_error", code="engine_unavailable"
):
    """503: no ready engine serves the requested model."""


class EngineTimeout(ServerError, status=504, kind="timeout_error", code="engine_timeout"):
    """504: the engine did not finish within the request timeout."""


def error_response(exc: StructServeError) -> JSONResponse:
    """Map any gateway error to its HTTP response (the only place this happens)."""
    return JSONResponse(exc.body(), status_code=exc.status_code, headers=exc.headers)


def from_status(status: int, message: str, *, param: str | None = None) -> StructServeError:
    """Rebuild a typed error from an engine's status code and message."""
    by_status: dict[int, type[StructServeError]] = {
        400: InvalidRequest,
        401: AuthenticationError,
        404: NotFound,
        408: RequestTimeout,
        413: PayloadTooLarge,
        422: InvalidRequest,
        429: RateLimited,
        503: EngineUnavailable,
        504: EngineTimeout,
    }
    cls = by_status.get(status)
    if cls is None:
        cls = InvalidRequest if 400 <= status < 500 else EngineError
    return cls(message, param=param)
