"""Send BFCL entries to one target with the official `openai` client and record each outcome.

Every request is the same for both targets: `tools` (converted, `strict: true` per function),
`tool_choice: "auto"` (or "required" when asked, except for irrelevance entries, which always
get "auto": the right answer is no call), temperature 0 and a `max_tokens` budget. No
retries: an HTTP error is an outcome, counted by status.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import jsonschema
import openai
from tqdm import tqdm

from bench.bfcl_check import Call, Checker
from bench.bfcl_data import Entry
from bench.bfcl_tools import to_tools

TOOL_CALL_TAG = "<tool_call>"


@dataclass(frozen=True)
class RunSettings:
    """How requests are sent.

    Attributes:
        model: the served model name.
        max_tokens: completion budget per request.
        concurrency: requests in flight at once (1: latencies of a lone request).
        timeout_s: per-request client timeout.
        progress: show a progress bar.
        tool_choice: "auto", or "required" (entries with possible answers only).
    """

    model: str
    max_tokens: int = 256
    concurrency: int = 1
    timeout_s: float = 300.0
    progress: bool = True
    tool_choice: str = "auto"


@dataclass
class Outcome:
    """One request's result (what result.json keeps per request)."""

    id: str
    category: str
    status: str  # ok | http_error | connection_error
    http_status: int | None = None
    latency_s: float | None = None
    finish_reason: str | None = None
    calls: list[dict[str, str]] = field(default_factory=list)
    content: str | None = None
    error: str | None = None
    valid: bool = False
    error_type: str | None = None
    checker_error: str | None = None
    calls_schema_valid: list[bool] = field(default_factory=list)
    parse_failure: bool = False
    no_call: bool = False

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


def request_body(entry: Entry, settings: RunSettings) -> dict[str, Any]:
    """The chat completion keyword arguments for `entry`."""
    return {
        "model": settings.model,
        "messages": entry.messages,
        "tools": to_tools(entry.functions, strict=True),
        "tool_choice": "auto" if entry.ground_truth is None else settings.tool_choice,
        "temperature": 0.0,
        "max_tokens": settings.max_tokens,
    }


def call_schema_valid(call: Call, tools: Sequence[dict[str, Any]]) -> bool:
    """True when `call` names one of `tools` and its arguments are a JSON object valid against
    that function's converted `parameters` schema (jsonschema, draft 2020-12 unless declared)."""
    schema = next(
        (t["function"]["parameters"] for t in tools if t["function"]["name"] == call.name), None
    )
    if schema is None:
        return False
    try:
        arguments = json.loads(call.arguments)
    except ValueError:
        return False
    if not isinstance(arguments, dict):
        return False
    validator = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    return validator(schema).is_valid(arguments)


def _parses(arguments: str) -> bool:
    try:
        return isinstance(json.loads(arguments), dict)
    except ValueError:
        return False


def score(outcome: Outcome, entry: Entry, checker: Checker) -> None:
    """Fill the verdict and the call measures of a successful `outcome` in place."""
    calls = [Call(c["name"], c["arguments"]) for c in outcome.calls]
    verdict = checker.check(entry, calls, outcome.content)
    outcome.valid, outcome.error_type, outcome.checker_error = (
        verdict.valid,
        verdict.error_type,
        verdict.error,
    )
    tools = to_tools(entry.functions, strict=True)
    outcome.calls_schema_valid = [call_schema_valid(c, tools) for c in calls]
    unparsed_call = not calls and TOOL_CALL_TAG in (outcome.content or "")
    outcome.parse_failure = unparsed_call or any(not _parses(c.arguments) for c in calls)
    outcome.no_call = not calls and not outcome.parse_failure


async def _one(client: openai.AsyncOpenAI, entry: Entry, settings: RunSettings) -> Outcome:
    started = time.perf_counter()
    outcome = Outcome(entry.id, entry.category, "ok")
    try:
        response = await client.chat.completions.create(**request_body(entry, settings))
    except openai.APIStatusError as exc:
        outcome.status, outcome.http_status = "http_error", exc.status_code
        outcome.error = str(exc)[:500]
    except (openai.APIConnectionError, openai.APITimeoutError) as exc:
        outcome.status, outcome.error = "connection_error", str(exc)[:500]
    else:
        choice = response.choices[0]
        outcome.http_status = 200
        outcome.finish_reason = choice.finish_reason
        outcome.content = choice.message.content
        outcome.calls = [
            {"name": c.function.name, "arguments": c.function.arguments}
            for c in choice.message.tool_calls or []
            if c.type == "function"
        ]
    outcome.latency_s = time.perf_counter() - started
    return outcome


async def run_target(
    base_url: str, entries: Sequence[Entry], checker: Checker, settings: RunSettings, label: str
) -> list[Outcome]:
    """Send every entry to the server at `base_url` and score the answers.

    Args:
        base_url: the server root (`/v1` is appended).
        entries: the test cases, in order.
        checker: BFCL's checker.
        settings: model, budget, concurrency.
        label: the progress bar's name.

    Returns:
        the outcomes, in `entries` order.
    """
    client = openai.AsyncOpenAI(
        base_url=base_url.rstrip("/") + "/v1",
        api_key="unused",
        max_retries=0,
        timeout=settings.timeout_s,
    )
    gate = asyncio.Semaphore(settings.concurrency)
    bar = tqdm(total=len(entries), desc=label, disable=not settings.progress, unit="req")

    async def task(entry: Entry) -> Outcome:
        async with gate:
            outcome = await _one(client, entry, settings)
        if outcome.status == "ok":
            score(outcome, entry, checker)
        bar.update(1)
        return outcome

    try:
        return list(await asyncio.gather(*(task(e) for e in entries)))
    finally:
        bar.close()
        await client.close()
