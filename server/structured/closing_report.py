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

from budget_close.closer import Closer
from budget_close.document import DocumentCloser
from budget_close.regex_closer import RegexCloser
from budget_close.replay import closing_start
from budget_close.verify import Judge
from grammar.llg import ByteGrammar


@dataclass
class ClosingReport:
    """Reads a choice's closing for one request with `close_on_budget` and a marker."""

    marker: int
    closer: DocumentCloser
    count_tokens: Callable[[str], int]

    def take_marker(self, choice: dict[str, Any]) -> bool:
        """Whether `choice` (finished) was closed early; its marker `stop_reason` is removed."""
        if choice.get("stop_reason") == self.marker:
            choice["stop_reason"] = None
            return True
        return False

    def closing_tokens(self, text: str) -> int | None:
        """Tokens of the closing the document ends with (blocking: run off the event loop);
        None when it cannot be read back."""
        if isinstance(self.closer, Closer):
            schema = self.closer.walk.root
            judge = Judge(schema, ByteGrammar("json", schema).matches)
        elif isinstance(self.closer, RegexCloser):  # the grammar alone judges a regex
            judge = Judge(None, ByteGrammar("regex", self.closer.pattern).matches)
        else:
            return None
        start = closing_start(self.closer, judge, text)
        return None if start is None else self.count_tokens(text[start:])
