"""The tool-call syntax the grammar enforces, read back incrementally.

    <tool_call>\\n{"name": "NAME", "arguments": ARGS}\\n</tool_call>

blocks joined by "\\n" (ARGS: a JSON object, spaced like `json.dumps`), or, where the request
allows it, plain text that does not start with "<". One `CallScanner` reads a whole output
(`parse_output`) or a stream piece by piece (`server.tools.stream`): both see the same events, so
streamed arguments reassemble to exactly the unary ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from server.tools.spec import NAME

OPEN = '<tool_call>\n{"name": "'
MID = '", "arguments": '
CLOSE = "}\n</tool_call>"
SEPARATOR = "\n"


def call_block(name: str, arguments: str) -> str:
    """One call as the grammar writes it (arguments: the JSON object text as generated)."""
    return f"{OPEN}{name}{MID}{arguments}{CLOSE}"  # CLOSE's "}" ends the wrapper object


def calls_text(calls: list[tuple[str, str]]) -> str:
    """Calls as the grammar writes them: blocks joined by SEPARATOR (the text they parse from)."""
    return SEPARATOR.join(call_block(name, arguments) for name, arguments in calls)


@dataclass(frozen=True)
class Event:
    """What one piece of output meant: `text`, a `call` starting (value = its name), or a piece
    of a call's `args`; `index` is the call's position (-1 for text)."""

    kind: str
    index: int
    value: str


@dataclass
class CallScanner:
    """Reads an output in the tool-call syntax, piece by piece; text that could still be markup
    is held back until it is decided."""

    allow_text: bool
    state: str = "start"  # start text open name mid args close between failed
    calls: list[list[str]] = field(default_factory=list)  # [name, arguments so far]
    error: str | None = None
    _pending: str = ""
    _held: str = ""  # markup consumed since the last event (given back as text on failure)
    _call_name: str = ""
    _depth: int = 0
    _in_string: bool = False
    _escaped: bool = False

    @property
    def complete(self) -> bool:
        """Whether the output read so far is a whole answer (text, or finished calls)."""
        return self.error is None and (self.state == "text" or self.state == "between")

    def feed(self, piece: str) -> list[Event]:
        """Read the next piece of output; returns the events it completes."""
        self._pending += piece
        events: list[Event] = []
        while self._pending and self._step(events):
            pass
        return events

    def flush(self) -> list[Event]:
        """At the end of the output: whatever is still held back, as text (nothing is lost)."""
        rest = self._held + self._pending
        self._held = self._pending = ""
        if not self.complete and self.error is None:
            empty = self.state == "start"
            self.error = "the output is empty" if empty else "the output ends inside a tool call"
        return [Event("text", -1, rest)] if rest else []

    def _step(self, events: list[Event]) -> bool:
        """Consume what the current state can decide; False when it needs more output."""
        if self.state in ("text", "failed"):
            events.append(Event("text", -1, self._pending))
            self._pending = ""
            return True
        if self.state == "start":
            text = self.allow_text and not self._pending.startswith("<")
            self.state = "text" if text else "open"
            return True
        if self.state == "name":
            return self._name()
        if self.state == "args":
            return self._args(events)
        literal, after = {
            "open": (OPEN, "name"),
            "mid": (MID, "args"),
            "close": (CLOSE, "between"),
            "between": (SEPARATOR, "open"),
        }[self.state]
        found = self._literal(literal)
        if found != "matched":
            return found == "failed"
        if self.state == "mid":  # the call's name and framing are complete
            self.calls.append([self._call_name, ""])
            events.append(Event("call", len(self.calls) - 1, self._call_name))
        if self.state in ("mid", "close"):
            self._held = ""
        self.state = after
        return True

    def _literal(self, literal: str) -> str:
        """Consume `literal`: returns matched, wait (a prefix of it so far) or failed."""
        if self._pending.startswith(literal):
            self._held += literal
            self._pending = self._pending[len(literal) :]
            return "matched"
        if literal.startswith(self._pending):
            return "wait"
        self._fail(f"expected {literal!r} at {self._pending[:20]!r}")
        return "failed"

    def _name(self) -> bool:
        end = self._pending.find('"')
        name = self._pending if end < 0 else self._pending[:end]
        if len(name) > 64 or (name and not NAME.match(name)):
            self._fail(f"not a function name: {name[:70]!r}")
            return True
        if end < 0:
            return False
        self._held += name
        self._call_name = name
        self._pending = self._pending[end:]
        self.state = "mid"
        return True

    def _args(self, events: list[Event]) -> bool:
        """Consume the arguments object up to its closing brace (strings and escapes tracked)."""
        if self._depth == 0 and not self._pending.startswith("{"):
            self._fail("the arguments are not a JSON object")
            return True
        end = len(self._pending)
        for i, char in enumerate(self._pending):
            if self._in_string:
                if self._escaped:
                    self._escaped = False
                elif char == "\\":
                    self._escaped = True
                elif char == '"':
                    self._in_string = False
            elif char == '"':
                self._in_string = True
            elif char in "{[":
                self._depth += 1
            elif char in "}]":
                self._depth -= 1
                if self._depth == 0:
                    end = i + 1
                    self.state = "close"
                    break
        piece, self._pending = self._pending[:end], self._pending[end:]
        self.calls[-1][1] += piece
        events.append(Event("args", len(self.calls) - 1, piece))
        return True

    def _fail(self, why: str) -> None:
        self.error = why
        self.state = "failed"
        self._pending = self._held + self._pending
        self._held = ""


@dataclass(frozen=True)
class ParsedOutput:
    """A whole output read in the tool-call syntax."""

    content: str | None  # text outside calls (None when there is none)
    calls: list[tuple[str, str]]  # (name, arguments as generated)
    complete: bool
    error: str | None


def parse_output(text: str, *, allow_text: bool) -> ParsedOutput:
    """Read a finished output.

    Args:
        text: the generated text.
        allow_text: whether a plain-text answer is allowed (tool_choice auto).

    Returns:
        Its text and calls; `complete` False (with `error`) when the output does not follow the
        syntax or ends inside a call.
    """
    scanner = CallScanner(allow_text=allow_text)
    events = scanner.feed(text) + scanner.flush()
    content = "".join(e.value for e in events if e.kind == "text")
    calls = [(name, arguments) for name, arguments in scanner.calls]
    return ParsedOutput(content or None, calls, scanner.complete, scanner.error)
