"""Streamed chat chunks → Responses SSE events (`event: <type>` + `data: {..., sequence_number}`).

Order: response.created, response.in_progress; per message item output_item.added,
content_part.added, output_text.delta…, output_text.done, content_part.done, output_item.done;
per function call output_item.added, function_call_arguments.delta…, .done, output_item.done;
then response.completed | response.incomplete (the full response, usage included), or on an
error mid-stream an `error` event followed by response.failed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from server.responses.ids import new_id
from server.responses.output import Outcome, function_call_item, message_item, usage_from_chat

BuildResponse = Callable[[Outcome, list[dict[str, Any]], dict[str, Any] | None], dict[str, Any]]
"""(outcome, output items, usage) -> the response object."""


def sse(kind: str, payload: dict[str, Any]) -> bytes:
    """One named SSE event."""
    return f"event: {kind}\ndata: {json.dumps(payload)}\n\n".encode()


@dataclass
class StreamTranslator:
    """Turns one chat stream (choice 0) into Responses events; `final` is the last response."""

    build: BuildResponse
    seq: int = 0
    items: list[dict[str, Any]] = field(default_factory=list)  # by output_index
    open_message: int | None = None  # output_index of the message being streamed
    open_calls: dict[int, int] = field(default_factory=dict)  # chat tool index -> output_index
    done: set[int] = field(default_factory=set)
    finish_reasons: list[str | None] = field(default_factory=list)
    verdict: dict[str, Any] | None = None
    usage: dict[str, Any] | None = None
    final: dict[str, Any] | None = None

    def _event(self, kind: str, **fields: Any) -> bytes:
        payload = {"type": kind, "sequence_number": self.seq, **fields}
        self.seq += 1
        return sse(kind, payload)

    def _lifecycle(self, kind: str, outcome: Outcome) -> bytes:
        done = [item for i, item in enumerate(self.items) if i in self.done]
        usage = self.usage if outcome.status != "in_progress" else None
        response = self.build(outcome, done, usage_from_chat(usage))
        if outcome.status != "in_progress":
            self.final = response
        return self._event(kind, response=response)

    def start(self) -> list[bytes]:
        """response.created and response.in_progress."""
        progress = Outcome("in_progress")
        return [
            self._lifecycle("response.created", progress),
            self._lifecycle("response.in_progress", progress),
        ]

    def feed(self, chunk: dict[str, Any]) -> list[bytes]:
        """The events one chat chunk gives (none for role-only chunks and the usage chunk)."""
        if isinstance(chunk.get("usage"), dict):
            self.usage = chunk["usage"]
        choices = chunk.get("choices") or []
        choice = next((c for c in choices if int(c.get("index", 0)) == 0), None)
        if choice is None:
            return []
        delta = choice.get("delta") or {}
        events: list[bytes] = []
        for call in delta.get("tool_calls") or []:
            events += self._call_delta(call)
        if delta.get("content"):
            events += self._text_delta(str(delta["content"]))
        if choice.get("finish_reason") is not None:
            self.finish_reasons.append(choice["finish_reason"])
        if choice.get("structured_output") is not None:
            self.verdict = choice["structured_output"]
        return events

    def _text_delta(self, text: str) -> list[bytes]:
        events: list[bytes] = []
        if self.open_message is None:
            events += self._close_calls()
            events += self._open_message()
        index = self.open_message
        assert index is not None
        item = self.items[index]
        item["content"][0]["text"] += text
        events.append(
            self._event(
                "response.output_text.delta",
                item_id=item["id"],
                output_index=index,
                content_index=0,
                delta=text,
                logprobs=[],
            )
        )
        return events

    def _open_message(self) -> list[bytes]:
        item = message_item("", "in_progress")
        part = item["content"][0]
        index = len(self.items)
        self.items.append(item)
        self.open_message = index
        added = {**item, "content": []}
        return [
            self._event("response.output_item.added", output_index=index, item=added),
            self._event(
                "response.content_part.added",
                item_id=item["id"],
                output_index=index,
                content_index=0,
                part={**part, "text": ""},
            ),
        ]

    def _close_message(self, status: str) -> list[bytes]:
        index = self.open_message
        if index is None:
            return []
        self.open_message = None
        item = self.items[index]
        item["status"] = status
        if self.verdict is not None:
            item["structured_output"] = self.verdict
        part, text = item["content"][0], item["content"][0]["text"]
        ids = {"item_id": item["id"], "output_index": index, "content_index": 0}
        self.done.add(index)
        return [
            self._event("response.output_text.done", **ids, text=text, logprobs=[]),
            self._event("response.content_part.done", **ids, part=part),
            self._event("response.output_item.done", output_index=index, item=item),
        ]

    def _call_delta(self, call: dict[str, Any]) -> list[bytes]:
        chat_index = int(call.get("index", 0))
        function = call.get("function") or {}
        events: list[bytes] = []
        if chat_index not in self.open_calls:
            events += self._close_message("completed")
            events += self._close_calls()
            call_id = str(call.get("id") or new_id("call"))
            item = function_call_item(call_id, str(function.get("name") or ""), "", "in_progress")
            self.open_calls[chat_index] = len(self.items)
            self.items.append(item)
            events.append(
                self._event(
                    "response.output_item.added", output_index=len(self.items) - 1, item=dict(item)
                )
            )
        index = self.open_calls[chat_index]
        item = self.items[index]
        if function.get("name") and not item["name"]:
            item["name"] = str(function["name"])
        if function.get("arguments"):
            item["arguments"] += str(function["arguments"])
            events.append(
                self._event(
                    "response.function_call_arguments.delta",
                    item_id=item["id"],
                    output_index=index,
                    delta=str(function["arguments"]),
                )
            )
        return events

    def _close_calls(self) -> list[bytes]:
        events: list[bytes] = []
        for index in self.open_calls.values():
            if index in self.done:
                continue
            item = self.items[index]
            item["status"] = "completed"
            self.done.add(index)
            events.append(
                self._event(
                    "response.function_call_arguments.done",
                    item_id=item["id"],
                    output_index=index,
                    name=item["name"],
                    arguments=item["arguments"],
                )
            )
            events.append(self._event("response.output_item.done", output_index=index, item=item))
        return events

    def finish(self) -> list[bytes]:
        """Close the open items and end with response.completed or response.incomplete."""
        outcome = Outcome.from_finish(self.finish_reasons)
        events: list[bytes] = []
        if not self.items:  # nothing generated: still one (empty) message, as unary answers
            events += self._open_message()
        events += self._close_calls()
        events += self._close_message(outcome.item_status)
        kind = "response.completed" if outcome.status == "completed" else "response.incomplete"
        events.append(self._lifecycle(kind, outcome))
        return events

    def fail(self, error: dict[str, Any]) -> list[bytes]:
        """An `error` event, then response.failed (the items so far, unfinished ones dropped)."""
        code = error.get("code") if isinstance(error.get("code"), str) else "server_error"
        message = str(error.get("message") or "the engine failed while streaming")
        events = [self._event("error", code=code, message=message, param=error.get("param"))]
        # the response's error code is one of OpenAI's fixed set; the error event keeps ours
        kind = "rate_limit_exceeded" if code == "rate_limit_exceeded" else "server_error"
        outcome = Outcome("failed", error={"code": kind, "message": message})
        events.append(self._lifecycle("response.failed", outcome))
        return events
