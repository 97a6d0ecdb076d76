"""Where a closed document's closing begins, read back from its text (the gateway's side).

The engine tells the gateway *that* it closed a document (the answer's `stop_reason` is the
closing marker, `budget_close.MARKER_XARG`) but not where the closing began. The closing it forced
at character `j` was the best closing (`verify.best_closing`) of `text[:j]`, so `text[j:]` is
that closing. What is read back is the earliest such position `k` among the last `WINDOW`
characters: the longest tail of the document that is the engine's closing of what precedes it.
That is never later than `j`; it is earlier when the model itself had written the shortest ending
(a string's closing quote, the digits of a minimal date), which then counts as closing too.
"""

from __future__ import annotations

import time

from budget_close.document import DocumentCloser, Prefix
from budget_close.json_prefix import PrefixError
from budget_close.verify import Judge

WINDOW = 2048  # at most this many characters from the end are read back
TIME_LIMIT_S = 1.0  # past it the start is unknown (a verdict must not wait on it)


def closing_start(
    closer: DocumentCloser, judge: Judge, text: str, time_limit_s: float = TIME_LIMIT_S
) -> int | None:
    """The index in `text` (a finished document) where its closing begins; None when no tail
    of it is the best closing of what precedes it, or the scan ran past `time_limit_s`."""
    deadline = time.monotonic() + time_limit_s
    first = max(0, len(text) - WINDOW)
    states = _prefix_states(closer.new_prefix(), text, first)
    if states is None:
        return None
    start: int | None = None
    for k in range(len(text) - 1, first - 1, -1):
        if time.monotonic() > deadline:
            return None
        if _is_best_closing(closer, judge, text, k, states[k - first]):
            start = k
    return start


def _is_best_closing(
    closer: DocumentCloser, judge: Judge, text: str, k: int, prefix: Prefix
) -> bool:
    """Whether `text[k:]` is the closing the engine would force after `text[:k]`: a candidate,
    and no shorter candidate the judge accepts (it runs, costly, only for those)."""
    candidates = closer.closings(prefix)
    try:
        index = candidates.index(text[k:])
    except ValueError:
        return False
    return not any(judge.accepts(text[:k] + c) for c in candidates[:index])


def _prefix_states(prefix: Prefix, text: str, first: int) -> list[Prefix] | None:
    """The document's state (from `prefix`, before any text) after `text[:k]` for each k from
    `first` to len(text) - 1."""
    try:
        prefix.feed(text[:first])
        states: list[Prefix] = []
        for char in text[first:]:
            states.append(prefix.copy())
            prefix.feed(char)
    except PrefixError:
        return None
    return states
