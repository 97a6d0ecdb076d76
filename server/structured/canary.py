"""The backend canary: ask an engine what it enforces instead of assuming it.

vLLM picks its structured-output backend from `--structured-outputs-config`; without it, `auto`
runs xgrammar for most schemas, which ignores keywords the gateway's policy counts as enforced.
The gateway therefore sends each engine, when it becomes ready, a few tiny greedy requests whose
schemas an exactly-enforcing llguidance engine can answer in one way only, and that any other
backend answers differently or refuses:

- `separators`: `x-guidance` fixes the key separator to `":   "`; llguidance must write
  `{"a":   1}`, while xgrammar (`auto` picks it for this schema) and outlines ignore `x-guidance`
  and write `{"a":1}` or `{"a": 1}`.
- `pattern`: `pattern` with `minLength` (xgrammar drops or refuses the pattern); only `"qqqqqz"`
  matches.

Torch-free: the gateway runs it over its own httpx client.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from server.structured.keywords import BACKEND

_COMPACT = {"whitespace_flexible": False}


@dataclass(frozen=True)
class Canary:
    """One structured request and the only answer an exact llguidance engine can give."""

    name: str
    schema: dict[str, Any]
    expected: str
    weakness: str  # what a different answer shows


CANARIES: tuple[Canary, ...] = (
    Canary(
        "separators",
        {
            "type": "object",
            "properties": {"a": {"const": 1}},
            "required": ["a"],
            "additionalProperties": False,
            "x-guidance": {**_COMPACT, "key_separator": ":   "},
        },
        '{"a":   1}',
        "ignores llguidance's x-guidance options (not the guidance backend)",
    ),
    Canary(
        "pattern",
        {"type": "string", "minLength": 5, "pattern": "^q{5}z$", "x-guidance": _COMPACT},
        '"qqqqqz"',
        "does not enforce `pattern` together with `minLength`",
    ),
)
MAX_TOKENS = 16


@dataclass(frozen=True)
class CanaryResult:
    """What the canary learned about one engine.

    `backend` is the verified backend name, or None; `reason` says why it is not verified;
    `retry` is True when the canary could not run (timeout, engine busy) and should run again.
    """

    backend: str | None
    reason: str | None = None
    retry: bool = False


class CanaryInconclusive(Exception):
    """The canary could not run (transport error, timeout, engine busy)."""


def canary_body(canary: Canary, model: str) -> dict[str, Any]:
    """The /v1/completions body of one canary (greedy, a few tokens).

    Args:
        canary: the canary to send.
        model: a model name the engine serves (from its /v1/models).
    """
    return {
        "model": model,
        "prompt": "Answer in JSON:",
        "max_tokens": MAX_TOKENS,
        "temperature": 0,
        "structured_outputs": {"json": canary.schema},
    }


async def _ask(
    client: httpx.AsyncClient, url: str, body: dict[str, Any], timeout_s: float
) -> tuple[int, str]:
    """(status, generated text or error message) of one canary request."""
    try:
        response = await client.post(f"{url}/v1/completions", json=body, timeout=timeout_s)
    except httpx.HTTPError as exc:
        raise CanaryInconclusive(f"{type(exc).__name__}: {exc}"[:200]) from None
    if response.status_code in (429, 503) or response.status_code >= 500:
        raise CanaryInconclusive(f"engine answered HTTP {response.status_code}")
    try:
        data = response.json()
    except ValueError:
        raise CanaryInconclusive("engine answered with invalid JSON") from None
    if response.status_code != 200:
        error = data.get("error") if isinstance(data, dict) else None
        message = error.get("message") if isinstance(error, dict) else None
        return response.status_code, str(message or data)[:200]
    try:
        return 200, str(data["choices"][0]["text"])
    except (KeyError, IndexError, TypeError):
        raise CanaryInconclusive("engine answer has no choices[0].text") from None


async def run_canary(
    client: httpx.AsyncClient, url: str, model: str, *, timeout_s: float = 30.0
) -> CanaryResult:
    """Send every canary to one engine and judge its structured-output backend.

    Args:
        client: the gateway's HTTP client.
        url: the engine's base URL.
        model: a model the engine serves.
        timeout_s: per canary request.

    Returns:
        `backend="guidance"` when every canary got its one exact answer; otherwise a reason
        (naming the canary, the expected and the actual answer), with `retry` set when the
        engine could not answer at all.
    """
    for canary in CANARIES:
        body = canary_body(canary, model)
        try:
            status, text = await _ask(client, url, body, timeout_s)
        except CanaryInconclusive as exc:
            return CanaryResult(None, f"canary {canary.name!r} could not run: {exc}", retry=True)
        if status != 200:
            why = f"refused it (HTTP {status}: {text})"
            return CanaryResult(None, f"backend canary {canary.name!r} failed: the engine {why}")
        if text != canary.expected:
            got = f"expected {canary.expected!r} under {BACKEND}, got {text[:80]!r}"
            why = f"the engine {canary.weakness} ({got})"
            return CanaryResult(None, f"backend canary {canary.name!r} failed: {why}")
    return CanaryResult(BACKEND)
