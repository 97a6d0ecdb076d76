"""Pydantic models of the OpenAI requests the gateway validates before forwarding.

Only validation happens here: the original body (with any vLLM extension fields) is what the
engine receives. Types are strict, so `"max_tokens": "10"` is a 400, as at OpenAI.
"""

from __future__ import annotations

from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from server.errors import InvalidRequest

_STRICT_EXTRA = ConfigDict(strict=True, extra="allow")
_T = TypeVar("_T", bound=BaseModel)


class StreamOptions(BaseModel):
    """`stream_options` of a streaming request."""

    model_config = ConfigDict(strict=True, extra="forbid")
    include_usage: bool | None = None
    continuous_usage_stats: bool | None = None


class ChatMessage(BaseModel):
    """One message of a chat request (content parts and tool fields pass through)."""

    model_config = _STRICT_EXTRA
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[dict[str, Any]] | None = None
    name: str | None = None


class _SamplingRequest(BaseModel):
    """Fields common to chat and text completions."""

    model_config = _STRICT_EXTRA
    model: str = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    n: int = Field(1, ge=1)
    max_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0.0, le=2.0)
    top_p: float | None = Field(None, gt=0.0, le=1.0)
    seed: int | None = Field(None, ge=-(2**63), le=2**64 - 1)
    stop: str | list[str] | None = None
    presence_penalty: float | None = Field(None, ge=-2.0, le=2.0)
    frequency_penalty: float | None = Field(None, ge=-2.0, le=2.0)
    response_format: dict[str, Any] | None = None
    user: str | None = None
    close_on_budget: bool | None = Field(
        None,
        description="With a JSON schema, json_object or regex: when max_tokens runs short, end "
        "the document with its shortest valid ending instead of cutting it (finish_reason stop); "
        "default: the server's structured_close_on_budget (docs/budget_closing.md).",
    )

    @model_validator(mode="after")
    def _check_stop(self) -> _SamplingRequest:
        stops = [self.stop] if isinstance(self.stop, str) else (self.stop or [])
        if len(stops) > 16 or any(not s for s in stops):
            raise ValueError("stop: at most 16 non-empty sequences")
        if self.stream_options is not None and not self.stream:
            raise ValueError("stream_options: only allowed when stream is true")
        return self


class ChatCompletionRequest(_SamplingRequest):
    """POST /v1/chat/completions."""

    messages: list[ChatMessage] = Field(min_length=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    logprobs: bool | None = None
    top_logprobs: int | None = Field(None, ge=0, le=20)
    tools: list[dict[str, Any]] | None = Field(
        None,
        description='Functions the model may call: {"type": "function", "function": {"name", '
        '"description", "parameters", "strict"}}; arguments are enforced by the gateway\'s '
        "grammar (docs/tools.md).",
    )
    tool_choice: str | dict[str, Any] | None = Field(
        None,
        description='"none", "auto" (default with tools), "required", or {"type": "function", '
        '"function": {"name": ...}}.',
    )
    parallel_tool_calls: bool | None = Field(
        None, description="false: exactly one call when the model calls (default true)."
    )

    @model_validator(mode="after")
    def _check_logprobs(self) -> ChatCompletionRequest:
        if self.top_logprobs and not self.logprobs:
            raise ValueError("top_logprobs: requires logprobs to be true")
        return self


class CompletionRequest(_SamplingRequest):
    """POST /v1/completions."""

    prompt: str | list[str] | list[int] | list[list[int]]
    logprobs: int | None = Field(None, ge=0, le=20)
    echo: bool | None = None
    suffix: str | None = None

    @model_validator(mode="after")
    def _check_prompt(self) -> CompletionRequest:
        if isinstance(self.prompt, list) and len(self.prompt) == 0:
            raise ValueError("prompt: must not be empty")
        return self


def _param(error: Any) -> str | None:
    loc = [str(part) for part in error.get("loc", ()) if not str(part).startswith("function-")]
    # pydantic unions add the member type to the location; keep only field names and indexes
    kept = [p for p in loc if p.isidentifier() or p.isdigit()]
    kept = [p for p in kept if p not in {"str", "int", "float", "bool", "list", "dict"}]
    return ".".join(kept) or None


def parse_request(model: type[_T], body: Any) -> _T:
    """Validate a decoded JSON body; raise `InvalidRequest` naming the first bad parameter."""
    if not isinstance(body, dict):
        raise InvalidRequest("request body must be a JSON object")
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        param = _param(first)
        message = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
        if param is None and ":" in message:  # model-level checks name the field first
            param = message.split(":", 1)[0].strip()
            raise InvalidRequest(message, param=param) from None
        raise InvalidRequest(f"{param or 'body'}: {message}", param=param) from None
