"""A whole chat answer assembled from the engine's stream (one choice), for a unary tools request
the gateway may end at its first repeated call (`server.tools.repeat_stop`)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from server.errors import EngineError, StructServeError, from_status
from server.streaming import sse_payloads
from server.tools.repeat_stop import RepeatWatch


@dataclass
class ChatCollector:
    """Reads one engine stream into what the engine would have answered unary."""

    watch: RepeatWatch
    head: dict[str, Any] = field(default_factory=dict)  # id, created, model, ...
    text: str = ""
    finish_reason: str | None = None
    stop_reason: Any = None
    usage: dict[str, Any] | None = None
    error: StructServeError | None = None

    async def read(self, lines: AsyncIterator[str]) -> None:
        """Read until [DONE], an error event, or the first repeated call (then stop reading:
        the caller closes the stream, which aborts the engine request)."""
        async for payload in sse_payloads(lines):
            try:
                chunk = json.loads(payload)
            except ValueError:
                self.error = EngineError("the engine's stream carried invalid JSON")
                return
            if self._absorb(chunk):
                return

    @property
    def stopped(self) -> bool:
        """Whether the answer was ended at a repeated call."""
        return self.watch.kept is not None

    def answer(self) -> dict[str, Any]:
        """The chat completion (`object: chat.completion`); raises the engine's error, or
        EngineError for a stream that ended unfinished."""
        if self.error is not None:
            raise self.error
        if self.stopped:
            text, finish, stop = self.watch.kept, "stop", None
        elif self.finish_reason is not None:
            text, finish, stop = self.text, self.finish_reason, self.stop_reason
        else:
            raise EngineError("the engine's stream ended before the answer was finished")
        message: dict[str, Any] = {"role": "assistant", "content": text, "tool_calls": []}
        choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": finish,
                  "stop_reason": stop}  # fmt: skip
        usage = {"usage": self.usage} if self.usage is not None else {}
        return {**self.head, "object": "chat.completion", "choices": [choice], **usage}

    def _absorb(self, chunk: dict[str, Any]) -> bool:
        """Take one chunk; True when reading should stop."""
        if "error" in chunk:
            err = chunk["error"] if isinstance(chunk["error"], dict) else {}
            code = err.get("code")
            status = code if isinstance(code, int) and 400 <= code < 600 else 500
            self.error = from_status(status, str(err.get("message") or "engine error"))
            return True
        if isinstance(chunk.get("usage"), dict):
            self.usage = chunk["usage"]
        if not self.head:
            keep = ("id", "created", "model", "system_fingerprint")
            self.head = {k: chunk[k] for k in keep if k in chunk}
        for choice in chunk.get("choices") or []:
            piece = (choice.get("delta") or {}).get("content") or ""
            self.text += piece
            if choice.get("finish_reason") is not None:
                self.finish_reason = choice["finish_reason"]
                self.stop_reason = choice.get("stop_reason")
            if self.watch.feed(piece):
                return True
        return False
