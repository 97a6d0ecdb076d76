"""What the verdict says of a budget-closed answer: whether the engine closed it early, and how many
tokens the closing took (issue 19).

The engine ends a closing with the request's marker token, one of its `stop_token_ids`, so the
answer's `stop_reason` is the marker exactly when it closed (`budget_close.MARKER_XARG`). The
gateway takes the marker out of the answer (clients see `stop_reason: null`, as after EOS) and
reads the closing's start back from the text (`budget_close.replay`), counted in the model's
tokens.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from budget_close.document import DocumentCloser
from budget_close.replay import closing_start
from budget_close.verify import judge_of


@dataclass
class ClosingReport:
    """Reads a choice's closing for one request with `close_on_budget` and a marker."""

    marker: int
    closer: DocumentCloser
    count_tokens: Callable[[str], int]
    kind: str  # "json" or "regex", as `budget_close.verify.judge_of` takes it
    spec: Any

    def take_marker(self, choice: dict[str, Any]) -> bool:
        """Whether `choice` (finished) was closed early; its marker `stop_reason` is removed."""
        if choice.get("stop_reason") == self.marker:
            choice["stop_reason"] = None
            return True
        return False

    def closing_tokens(self, text: str) -> int | None:
        """Tokens of the closing the document ends with (blocking: run off the event loop);
        None when it cannot be read back."""
        start = closing_start(self.closer, judge_of(self.kind, self.spec), text)
        return None if start is None else self.count_tokens(text[start:])
