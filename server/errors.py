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


class ClientError(StructServeError):
    """4xx: the request is at fault."""

    status_code = 400
    error_type = "invalid_request_error"


class InvalidRequest(ClientError):
    """400: malformed body or a parameter out of range."""

    code = "invalid_request"


class AuthenticationError(ClientError):
    """401: missing or wrong API key."""

    status_code = 401
    error_type = "authentication_error"
    code = "invalid_api_key"


class NotFound(ClientError):
    """404: unknown model or route."""

    status_code = 404
    error_type = "not_found_error"
    code = "model_not_found"


class RequestTimeout(ClientError):
    """408: the client took too long to send its request."""

    status_code = 408
    code = "request_timeout"


class PayloadTooLarge(ClientError):
    """413: the body exceeds the configured limit."""

    status_code = 413
    code = "payload_too_large"


class RateLimited(ClientError):
    """429: the admission queue is full; retry later."""

    status_code = 429
    error_type = "rate_limit_error"
    code = "rate_limit_exceeded"


class ServerError(StructServeError):
    """5xx: the gateway or the engine is at fault."""

    status_code = 500
    error_type = "server_error"
    code = "internal_error"


class EngineError(ServerError):
    """502: the engine answered with something the gateway cannot relay."""

    status_code = 502
    code = "engine_error"


class EngineUnavailable(ServerError):
    """503: no ready engine serves the requested model."""

    status_code = 503
    error_type = "service_unavailable_error"
    code = "engine_unavailable"


class EngineTimeout(ServerError):
    """504: the engine did not finish within the request timeout."""

    status_code = 504
    error_type = "timeout_error"
    code = "engine_timeout"


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
