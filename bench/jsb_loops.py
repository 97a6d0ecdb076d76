"""Why did a structured output not finish? Classify a truncated JSON text by where it was cut.

A compact JSON prefix is scanned once (strings, escapes, the stack of open containers); the
place it ends in and the shape of its tail give the cause:

- `nesting_repeat`: at least `DEEP` containers open and the tail repeats (`{"type":{"type":…`).
- `whitespace_run`: inside a string, the tail is a run of whitespace or control escapes
  (`\\n`, `\\t`, `\\u001f`, spaces) — a degree of freedom the constraint leaves open.
- `string_repeat`: inside a long string, the tail repeats one n-gram (a content loop).
- `long_string`: inside a long string, neither of the above (the model just kept writing).
- `long_number`: the text ends in a run of digits longer than `LONG_NUMBER` characters.
- `item_repeat`: the last items of the open array or object repeat (same items, same keys —
  possible under `additionalProperties` — or a repeating unit of up to `ITEM_PERIOD` chars).
- `array_long`: inside an array, items differ.
- `other`: anything else (e.g. a nested structure cut mid-way for lack of tokens).

A cut inside a short string (a key, a short value) is judged by the structure around it.

`structserve bench jsonschemabench` reports these per subset (`truncation_causes`).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

WS_RUN = re.compile(r"(?:\\[ntrbf]|\\u00[01][0-9a-fA-F]| |\t|\n|\r)+(?:\\(?:u[0-9a-fA-F]{0,3})?)?$")
MIN_WS_RUN = 8  # characters of the JSON text at the tail
LONG_NUMBER = 24
NUMBER_TAIL = re.compile(r"[0-9.eE+-]{%d,}$" % LONG_NUMBER)  # noqa: UP031
DEEP = 8  # open containers from which a repeating tail counts as runaway nesting
SHORT_STRING = 32  # an open string shorter than this is judged by the structure around it
ITEM_PERIOD = 256  # longest repeating unit of items (e.g. a whole object) looked for
MIN_REPEATS = 3


@dataclass
class Scan:
    """Where a JSON prefix ends: open containers, and the open string's start if any."""

    stack: list[str] = field(default_factory=list)  # "{" / "[" from outer to inner
    opened_at: list[int] = field(default_factory=list)  # index of each open container
    string_start: int | None = None  # index after the opening quote of the open string


def scan(text: str) -> Scan:
    """Scan a (possibly cut) compact JSON text."""
    state = Scan()
    escaped = False
    for i, char in enumerate(text):
        if state.string_start is not None:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                state.string_start = None
            continue
        if char == '"':
            state.string_start = i + 1
        elif char in "{[":
            state.stack.append(char)
            state.opened_at.append(i)
        elif char in "}]" and state.stack:
            state.stack.pop()
            state.opened_at.pop()
    return state


def repeated_tail(text: str, *, max_period: int = 64, repeats: int = MIN_REPEATS) -> str | None:
    """The shortest unit that the tail of `text` repeats at least `repeats` times, or None."""
    for period in range(1, min(max_period, len(text) // repeats) + 1):
        unit = text[-period:]
        if text.endswith(unit * repeats) and unit.strip(" \\ntr"):
            return unit
    return None


def _items(body: str) -> list[str]:
    """Top-level comma-separated items of a container body (strings and nesting respected)."""
    items, depth, start, in_str, esc = [], 0, 0, False, False
    for i, char in enumerate(body):
        if in_str:
            if char == '"' and not esc:
                in_str = False
            esc = not esc and char == "\\"
            continue
        if char == '"':
            in_str = True
        elif char in "{[":
            depth += 1
        elif char in "}]":
            depth -= 1
        elif char == "," and depth == 0:
            items.append(body[start:i])
            start = i + 1
    return items  # the last, unfinished item is left out


def classify(text: str) -> str:
    """The cause of a truncation (see the module docstring)."""
    state = scan(text)
    if len(state.stack) >= DEEP and repeated_tail(text):
        return "nesting_repeat"
    if state.string_start is not None:
        content = text[state.string_start :]
        run = WS_RUN.search(content)
        if run and len(run.group(0)) >= MIN_WS_RUN:
            return "whitespace_run"
        if len(content) >= SHORT_STRING:
            return "string_repeat" if repeated_tail(content) else "long_string"
        text = text[: state.string_start - 1]  # a short string: judge the structure around it
        state = scan(text)
    if NUMBER_TAIL.search(text):
        return "long_number"
    if _items_repeat(text, state) or repeated_tail(text, max_period=ITEM_PERIOD):
        return "item_repeat"
    if state.stack and state.stack[-1] == "[" and len(_items(_body(text, state))) >= MIN_REPEATS:
        return "array_long"
    return "other"


def _body(text: str, state: Scan) -> str:
    return text[state.opened_at[-1] + 1 :] if state.stack else ""


def _items_repeat(text: str, state: Scan) -> bool:
    if not state.stack:
        return False
    items = _items(_body(text, state))
    if state.stack[-1] == "{":
        keys = [item.split(":", 1)[0] for item in items]
        return _repeats(keys) or _repeats([item.split(":", 1)[-1] for item in items])
    return _repeats(items)


def _repeats(items: Sequence[str]) -> bool:
    tail = list(items[-2 * MIN_REPEATS :])
    return len(tail) >= MIN_REPEATS and max(Counter(tail).values()) >= MIN_REPEATS


def truncated(record: dict[str, Any]) -> bool:
    """Accepted, not valid, and cut by max_tokens or the generation timeout."""
    return bool(
        record.get("declared")
        and not record.get("valid")
        and (record.get("finish_reason") == "length" or record.get("error") == "generation timeout")
    )


def breakdown(records: Sequence[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """Per subset, the count of each truncation cause."""
    out: dict[str, dict[str, int]] = {}
    for rec in records:
        if truncated(rec):
            causes = out.setdefault(rec["subset"], {})
            cause = classify(rec.get("text") or "")
            causes[cause] = causes.get(cause, 0) + 1
    return out
