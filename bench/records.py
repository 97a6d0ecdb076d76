"""What one benchmark request asks (`BenchRequest`) and produced (`RequestRecord`).

The load generator fills a `RequestRecord` per request; `bench.latency` turns a list of them into
a summary. Times are `time.perf_counter()` seconds; only differences are meaningful.
"""

from __future__ import annotations

import enum
import itertools
from dataclasses import dataclass, field
from typing import Any


class ErrorKind(enum.StrEnum):
    """Why a request did not complete."""

    HTTP_4XX = "4xx"  # the server refused the request (400, 404, 429, ...)
    HTTP_5XX = "5xx"  # the server failed (500, 503, ...), also an error event in the stream
    TIMEOUT = "timeout"  # no complete answer within the request timeout
    CLIENT_ABORT = "client_abort"  # we closed it: duration limit, cancellation probe
    STREAM = "stream"  # connection dropped or the SSE stream was malformed or ended early


@dataclass
class RequestRecord:
    """The timeline and outcome of one streamed request.

    Attributes:
        workload: name of the workload the request came from (e.g. "chat", "json").
        start: when the request was sent.
        chunk_times: arrival time of every stream chunk that carried output text.
        end: when the response finished (the `[DONE]` line or the failure).
        prompt_tokens: prompt length, from the server's usage when it sent one, else estimated.
        output_tokens: output length, from the server's usage when it sent one, else the number
            of content chunks.
        text: the generated text.
        error: None on success, else why it failed.
        error_detail: a short human-readable description of the failure.
        status: the HTTP status, 0 when no response arrived.
        schema_valid: for requests with a JSON schema, whether the output validated.
        finish_reason: the last `finish_reason` the server sent ("stop", "length", ...).
    """

    workload: str
    start: float
    chunk_times: list[float] = field(default_factory=list)
    end: float = 0.0
    prompt_tokens: int = 0
    output_tokens: int = 0
    text: str = ""
    error: ErrorKind | None = None
    error_detail: str = ""
    status: int = 0
    schema_valid: bool | None = None
    finish_reason: str | None = None

    @property
    def success(self) -> bool:
        """True when the request completed without error."""
        return self.error is None

    @property
    def ttft(self) -> float | None:
        """Seconds from sending to the first output chunk (None if none arrived)."""
        return self.chunk_times[0] - self.start if self.chunk_times else None

    @property
    def latency(self) -> float:
        """End-to-end seconds, from sending to the end of the response."""
        return self.end - self.start

    @property
    def itls(self) -> list[float]:
        """Gaps between consecutive output chunks, in seconds."""
        times = self.chunk_times
        return [b - a for a, b in itertools.pairwise(times)]

    @property
    def tpot(self) -> float | None:
        """Mean seconds per output token after the first (None when fewer than two tokens).

        Measured from the first to the last output chunk, so chunks carrying several tokens
        (speculative decoding) count every token they carry.
        """
        if self.output_tokens < 2 or not self.chunk_times:
            return None
        return (self.chunk_times[-1] - self.chunk_times[0]) / (self.output_tokens - 1)


@dataclass(frozen=True)
class BenchRequest:
    """One request of a workload.

    Attributes:
        workload: which workload drew it.
        prompt: the user message (chat) or prompt (completions).
        max_tokens: output budget.
        prompt_tokens: estimated prompt length (the server's usage replaces it when sent).
        schema: a JSON schema the output must follow (sent as `response_format`), or None.
    """

    workload: str
    prompt: str
    max_tokens: int
    prompt_tokens: int
    schema: dict[str, Any] | None = None


def json_schema_format(schema: Any, *, name: str = "answer", strict: bool = True) -> dict[str, Any]:
    """The `response_format` the harness sends for a JSON-schema request (strict by default)."""
    return {
        "type": "json_schema",
        "json_schema": {"name": name, "schema": schema, "strict": strict},
    }
