"""Tool calls in a streamed chat answer: the engine's content deltas become OpenAI tool-call
deltas (for each call one delta with its id and name, then its argument pieces).

Runs after `server.streaming.relay` (whose observer has already attached the verdict to the
chunk that finishes a choice, from the raw text), one `CallScanner` per choice index: the
streamed arguments are exactly the unary ones.
"""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from server.streaming import sse_data, sse_event
from server.structured import StructuredPlan
from server.tools.dedupe import call_key
from server.tools.plan import ToolPlan
from server.tools.repeat_stop import STOPPED
from server.tools.response import call_id
from server.tools.syntax import CallScanner, Event, calls_text


@dataclass
class RepeatFilter:
    """Drops streamed calls identical to an earlier call of the same choice (server.tools.dedupe).

    A call whose function was already called is held back until its arguments are complete,
    then sent whole or dropped; other calls stream as generated. Event indices become the
    positions of the calls sent.
    """

    sent: dict[int, int] = field(default_factory=dict)  # scanner call index -> position sent
    held: list[Event] = field(default_factory=list)  # the held call's events (call, args...)
    first_repeat: int | None = None  # scanner index of the first call dropped as a repeat

    def filter(self, scanner: CallScanner, events: list[Event], finished: bool) -> list[Event]:
        """The events to send, of those `scanner` just produced."""
        out: list[Event] = []
        for event in events:
            if event.kind == "args" and self.held and event.index == self.held[0].index:
                self.held.append(event)
                continue
            if event.kind != "args":
                out += self._release(scanner)  # a new call or text: the held call is over
            if event.kind == "call" and event.value in self._names(scanner):
                self.held = [event]
            elif event.kind == "call":
                self.sent[event.index] = len(self.sent)
                out.append(Event("call", self.sent[event.index], event.value))
            else:
                out.append(self._moved(event))
        if self.held and (finished or self._complete(scanner, self.held[0].index)):
            out += self._release(scanner)
        return out

    def _names(self, scanner: CallScanner) -> set[str]:
        return {scanner.calls[i][0] for i in self.sent}

    def _moved(self, event: Event) -> Event:
        if event.kind == "text":
            return event
        return Event(event.kind, self.sent[event.index], event.value)

    @staticmethod
    def _complete(scanner: CallScanner, index: int) -> bool:
        return scanner.error is None and (index < len(scanner.calls) - 1 or scanner.state != "args")

    def _release(self, scanner: CallScanner) -> list[Event]:
        """Send the held call, or drop it when complete and identical to one already sent."""
        if not self.held:
            return []
        held, self.held = self.held, []
        index = held[0].index
        if self._complete(scanner, index):
            key = call_key(*scanner.calls[index])
            if any(call_key(*scanner.calls[i]) == key for i in self.sent):
                if self.first_repeat is None:
                    self.first_repeat = index
                return []
        self.sent[index] = len(self.sent)
        return [self._moved(event) for event in held]


class ToolDeltas:
    """Converts the chunks of one stream."""

    def __init__(self, allow_text: bool, dedupe: bool = False) -> None:
        """Args: allow_text: whether a plain-text answer is allowed (tool_choice auto);
        dedupe: whether identical calls are sent once (`RepeatFilter`)."""
        self.allow_text = allow_text
        self.dedupe = dedupe
        self.scanners: dict[int, CallScanner] = {}
        self.filters: dict[int, RepeatFilter] = {}
        self.ids: dict[tuple[int, int], str] = {}

    def convert(self, chunk: dict[str, Any]) -> list[dict[str, Any]]:
        """The chunks to send for one engine chunk (none while markup is undecided).

        Args:
            chunk: an engine chat chunk (a finishing choice already carries its verdict).

        Returns:
            The converted chunks, one choice each; chunks without choices (usage) unchanged.
        """
        choices = chunk.get("choices")
        if not choices:
            return [chunk]
        out = []
        for choice in choices:
            out += self._choice(chunk, choice)
        return out

    def kept_text(self, index: int) -> str | None:
        """Choice `index`'s text before its first repeated call; None while it has none."""
        repeats = self.filters.get(index)
        if repeats is None or repeats.first_repeat is None:
            return None
        calls = self.scanners[index].calls[: repeats.first_repeat]
        return calls_text([(name, arguments) for name, arguments in calls])

    def _choice(self, chunk: dict[str, Any], choice: dict[str, Any]) -> list[dict[str, Any]]:
        index = int(choice.get("index", 0))
        scanner = self.scanners.setdefault(index, CallScanner(allow_text=self.allow_text))
        delta = dict(choice.get("delta") or {})
        events = scanner.feed(delta.pop("content", None) or "")
        finished = choice.get("finish_reason") is not None
        if finished:
            events += scanner.flush()
        if self.dedupe:
            repeats = self.filters.setdefault(index, RepeatFilter())
            events = repeats.filter(scanner, events, finished)
        deltas = [self._delta(index, event) for event in _merged(events)]
        if not deltas:
            if not (delta or finished or choice.get("logprobs")):
                return []  # held back: nothing to say yet
            deltas = [{}]
        deltas[0] = {**delta, **deltas[0]}  # the role (first chunk) rides on the first delta
        head = {k: v for k, v in chunk.items() if k != "choices"}
        last = len(deltas) - 1
        out = []
        for i, part in enumerate(deltas):
            kept = choice if i == last else {"index": index, "finish_reason": None}
            if i == 0 and i != last and "logprobs" in choice:
                kept = {**kept, "logprobs": choice["logprobs"]}
            elif i == last and i != 0:
                kept = {k: v for k, v in kept.items() if k != "logprobs"}
            out.append({**copy.deepcopy(head), "choices": [{**kept, "delta": part}]})
        return out

    def _delta(self, index: int, event: Event) -> dict[str, Any]:
        if event.kind == "text":
            return {"content": event.value}
        if event.kind == "call":
            key = (index, event.index)
            self.ids[key] = call_id()
            function = {"name": event.value, "arguments": ""}
            entry = {"index": event.index, "id": self.ids[key], "type": "function",
                     "function": function}  # fmt: skip
            return {"tool_calls": [entry]}
        return {"tool_calls": [{"index": event.index, "function": {"arguments": event.value}}]}


def _merged(events: list[Event]) -> list[Event]:
    """Consecutive text (or same-call argument) pieces as one event."""
    out: list[Event] = []
    for event in events:
        if not event.value and event.kind != "call":
            continue
        last = out[-1] if out else None
        if last and last.kind == event.kind != "call" and last.index == event.index:
            out[-1] = Event(last.kind, last.index, last.value + event.value)
        else:
            out.append(event)
    return out


async def tool_stream(
    events: AsyncIterator[bytes],
    plan: StructuredPlan | None,
    options: dict[str, Any] | None = None,
) -> AsyncIterator[bytes]:
    """Relay SSE events, converting chat chunks into tool-call deltas for a `ToolPlan`.

    With `plan.stop_at_repeat` the engine was asked for usage in every chunk
    (`server.tools.repeat_stop`): the client gets usage as its `options` ask, and the stream ends
    (the caller then closes the engine's) at the first repeated call, with a finishing chunk
    judged on the calls before it.

    Args:
        events: `server.streaming.relay`'s events (one `data:` event each).
        plan: the request's plan; anything but a `ToolPlan` passes every event through.
        options: the client's `stream_options`.

    Yields:
        The events to send.
    """
    if not isinstance(plan, ToolPlan):
        async for event in events:
            yield event
        return
    deltas = ToolDeltas(plan.allow_text, plan.dedupe)
    usage = _UsageView(options, engine_continuous=plan.stop_at_repeat)
    async for event in events:
        chunk = _chunk(event)
        if chunk is None:
            yield event
            continue
        view = usage.client_view(chunk)
        for converted in deltas.convert(view) if view is not None else []:
            yield sse_event(json.dumps(converted))
        kept = deltas.kept_text(0) if plan.stop_at_repeat else None
        if kept is not None:
            for part in await _stopped_ending(plan, chunk, kept, usage):
                yield sse_event(part)
            return


@dataclass
class _UsageView:
    """Usage as the client asked for it, when the engine was asked for it in every chunk."""

    options: dict[str, Any] | None
    engine_continuous: bool
    last: dict[str, Any] | None = None

    @property
    def include(self) -> bool:
        return bool((self.options or {}).get("include_usage"))

    @property
    def continuous(self) -> bool:
        return self.include and bool((self.options or {}).get("continuous_usage_stats"))

    def client_view(self, chunk: dict[str, Any]) -> dict[str, Any] | None:
        """The chunk without the usage the client did not ask for (None: a usage-only chunk
        it did not ask for)."""
        if not self.engine_continuous or not isinstance(chunk.get("usage"), dict):
            return chunk
        self.last = chunk["usage"]
        if not chunk.get("choices"):
            return chunk if self.include else None
        return chunk if self.continuous else {k: v for k, v in chunk.items() if k != "usage"}


async def _stopped_ending(
    plan: ToolPlan, chunk: dict[str, Any], kept: str, usage: _UsageView
) -> list[str]:
    """The events that end a stream stopped at a repeated call: the finishing chunk (its
    verdict judged on `kept`), the usage chunk when asked for, [DONE]."""
    head: dict[str, Any] = {k: chunk[k] for k in ("id", "object", "created", "model") if k in chunk}
    choice: dict[str, Any] = {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}
    verdict = await plan.aannotate(choice, kept)
    verdict[STOPPED] = True
    final: dict[str, Any] = {**head, "choices": [choice]}
    if usage.continuous and usage.last is not None:
        final["usage"] = usage.last
    parts = [json.dumps(final)]
    if usage.include and usage.last is not None:
        parts.append(json.dumps({**head, "choices": [], "usage": usage.last}))
    return [*parts, "[DONE]"]


def _chunk(event: bytes) -> dict[str, Any] | None:
    """The chat chunk an event carries; None for [DONE], errors and anything else."""
    payload = sse_data(event.decode("utf-8"))
    if payload is None:
        return None
    try:
        chunk = json.loads(payload)
    except ValueError:
        return None
    if not isinstance(chunk, dict) or "error" in chunk:
        return None
    return chunk
