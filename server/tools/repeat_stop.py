"""An answer ends at its first repeated call (setting `tool_repeat_stop`, with `tool_dedupe`).

A small model that repeats a finished call verbatim usually goes on repeating it until
`max_tokens`: the answer then has no usable calls (`length`) and costs the whole budget. Where
repeats are possible (parallel calls, one choice, no logprobs asked), the gateway reads the
engine's answer as a stream, unary requests included, and closes it as soon as a complete call
equals an earlier one (vLLM aborts the request on the closed connection). The client gets the
calls before the repeat, `finish_reason: "tool_calls"`, the verdict `stopped_at_repeat: true`,
and usage counting the tokens generated until then (the engine's continuous usage stats).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from server.tools.dedupe import call_key
from server.tools.syntax import CallScanner, calls_text

STOPPED = "stopped_at_repeat"


def engine_stream_body(body: dict[str, Any]) -> dict[str, Any]:
    """The body the engine gets when the gateway may stop it: streamed, with usage in every chunk
    (so the tokens generated until an early stop are known)."""
    options = {"include_usage": True, "continuous_usage_stats": True}
    return {**body, "stream": True, "stream_options": options}


@dataclass
class RepeatWatch:
    """Reads one choice's output piece by piece; `kept` is set (the text before the repeat) once
    a complete call equals an earlier one."""

    allow_text: bool
    scanner: CallScanner = field(init=False)
    kept: str | None = None
    _keys: list[tuple[str, str]] = field(default_factory=list)  # each complete call's key

    def __post_init__(self) -> None:
        self.scanner = CallScanner(allow_text=self.allow_text)

    def feed(self, piece: str) -> bool:
        """Read the next piece; True once the output repeats a call (and stays True)."""
        if self.kept is not None:
            return True
        self.scanner.feed(piece)
        calls = self.scanner.calls
        complete = len(calls) - (1 if self.scanner.state == "args" else 0)
        if self.scanner.error is not None:
            return False
        for index in range(len(self._keys), complete):
            key = call_key(*calls[index])
            if key in self._keys:
                self.kept = calls_text([(name, args) for name, args in calls[:index]])
                return True
            self._keys.append(key)
        return False
