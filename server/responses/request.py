"""The POST /v1/responses request: validated fields, and a 400 for what the gateway does not do.

Types are strict, as on the chat path (`"max_output_tokens": "10"` is a 400). Fields of OpenAI's
API that need a capability the gateway lacks (built-in tools, reasoning, background mode, stored
prompts, the Conversations API) answer 400 naming the parameter instead of being ignored.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from server.errors import InvalidRequest
from server.protocol import parse_request

# Accepted for compatibility, and without effect here (documented in docs/responses.md).
IGNORED = ("service_tier", "stream_options", "prompt_cache_key", "safety_identifier")
# OpenAI parameters the gateway cannot honour: a non-empty value is a 400 naming the parameter.
UNSUPPORTED = {
    "reasoning": "reasoning models and reasoning settings are not supported",
    "background": "background mode is not supported",
    "include": "`include` (extra output data such as logprobs or file search results) is not "
    "supported",
    "prompt": "stored prompt templates are not supported",
    "conversation": "the Conversations API is not supported; use previous_response_id",
    "top_logprobs": "logprobs are not supported on /v1/responses",
    "max_tool_calls": "max_tool_calls is not supported",
}


class ResponsesRequest(BaseModel):
    """POST /v1/responses (the fields the gateway translates; see docs/responses.md)."""

    model_config = ConfigDict(strict=True, extra="forbid")
    model: str = Field(min_length=1)
    input: str | list[dict[str, Any]]
    instructions: str | None = None
    max_output_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0.0, le=2.0)
    top_p: float | None = Field(None, gt=0.0, le=1.0)
    text: dict[str, Any] | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    stream: bool = False
    store: bool = True
    previous_response_id: str | None = Field(None, min_length=1)
    metadata: dict[str, str] | None = None
    user: str | None = None
    truncation: Literal["disabled"] | None = None
    # accepted and ignored (IGNORED)
    service_tier: str | None = None
    stream_options: dict[str, Any] | None = None
    prompt_cache_key: str | None = None
    safety_identifier: str | None = None

    @field_validator("metadata")
    @classmethod
    def _check_metadata(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        if value is not None and (
            len(value) > 16 or any(len(k) > 64 or len(v) > 512 for k, v in value.items())
        ):
            raise ValueError("at most 16 pairs, keys up to 64 and values up to 512 characters")
        return value


def parse_responses_request(body: Any) -> ResponsesRequest:
    """Validate a decoded POST /v1/responses body.

    Args:
        body: the decoded JSON body.

    Returns:
        The validated request.

    Raises:
        InvalidRequest: a bad field (naming it), or an unsupported OpenAI parameter.
    """
    if isinstance(body, dict):
        for name, why in UNSUPPORTED.items():
            if body.get(name) not in (None, False, [], {}):
                raise InvalidRequest(f"{name}: {why}", param=name)
            body.pop(name, None)
    return parse_request(ResponsesRequest, body)
