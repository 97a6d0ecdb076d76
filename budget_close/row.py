"""One request's budget closing: follow its output, decide when to close, then force the close.

Each step the row knows how many tokens the request may still produce (`remaining`, this step's
included) and the tokens of the shortest closing of the document so far (`Closer`, recomputed when
the document's structure changes, and at every step once the end is near). Two rules keep the
output inside the budget:

- Near the end (`remaining <= closing tokens + 1 + NEAR`) the model's next token is chosen among
  candidates (the processor passes its top-K allowed tokens) that keep the closing within what
  will be left (`safe`): one token can open a member or container whose minimum is long, and
  checking before it is sampled is what makes that jump impossible. When none is safe, or when
  `remaining <= closing tokens + 1`, the row closes.
- Closing: the shortest closing the judge accepts (schema and grammar) is encoded and its tokens
  are forced one per step, then the end token; the `+ 1` is that end token, so the engine stops
  with `stop`, never `length`. The end token is the request's `marker` (a stop token the gateway
  named) when the grammar is stopped after the closing (it then accepts any token), so the
  answer's `stop_reason` tells the gateway the document was closed early; else EOS. The
  grammar's mask is applied before this processor's, and the judge checked the grammar accepts
  the closing's bytes, so a forced token is one it allows.

A row that cannot close (no closing the judge accepts, or one longer than what is left) gives up
and the request ends as it would have without closing (cut at `max_tokens`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from budget_close.document import DocumentCloser, Prefix
from budget_close.json_prefix import PrefixError
from budget_close.token_text import TextFeed, TokenText
from budget_close.verify import Judge, best_closing

log = logging.getLogger("structserve.budget_close")

NEAR = 16  # within this many tokens of closing: recomputed every step, candidates checked
MAX_OPEN_BYTES = 3  # bytes a UTF-8 character can still miss after its first (one token each)


@dataclass
class BudgetRow:
    """A request with `close_on_budget`: its output as followed so far and what to force."""

    closer: DocumentCloser
    judge: Judge
    text: TokenText
    max_tokens: int
    output: list[int]  # the output tokens (V1's running list, or appended under V2)
    marker: int | None = None  # the stop token a closing ends with where the grammar allows it
    prefix: Prefix = field(init=False)
    feed: TextFeed = field(default_factory=TextFeed)
    seen: int = 0
    forced: list[int] | None = None  # the closing's tokens still to force, then the end token
    given_up: bool = False
    end: int | None = None  # the token that ends the forced closing (marker or EOS)
    _shape: object = ()
    _closing_tokens: int | None = None
    _free: bool = False  # inside a string whose content no schema constrains (this shape)

    def __post_init__(self) -> None:
        self.prefix = self.closer.new_prefix()

    def follow(self) -> None:
        """Take in the tokens produced since the last call."""
        while self.seen < len(self.output) and self.output[self.seen] >= 0:
            token = self.output[self.seen]
            self.seen += 1
            if self.forced is not None or self.given_up:
                continue
            try:
                self.prefix.feed(self.feed.add(self.text.token_bytes(token)))
            except PrefixError as exc:  # the grammar should make this impossible
                log.warning("budget closing: the output left the constraint (%s); left as is", exc)
                self.given_up = True

    def next_token(self) -> int | None:
        """The token this step must produce, or None to leave the step to the model."""
        if self.given_up:
            return None
        if self.forced is not None:
            return self.forced.pop(0) if self.forced else self.end
        remaining = self.max_tokens - self.seen
        if self.feed.pending:
            return None  # mid-character: no closing can follow these bytes yet
        needed = self._closing_cost(remaining)
        if needed is None or remaining > needed + 1:
            return None
        return self._start_closing(remaining)

    def near_end(self) -> bool:
        """Whether this step's token must come from `safe` candidates (call after
        `next_token` returned None)."""
        if self.given_up or self.forced is not None or self._closing_tokens is None:
            return False
        return self.max_tokens - self.seen <= self._closing_tokens + 1 + NEAR

    def safe(self, candidates: list[int]) -> list[int]:
        """The candidates after which the closing still fits what will be left."""
        left = self.max_tokens - self.seen - 1
        costs = [(t, self._cost_after(t)) for t in candidates]
        return [t for t, cost in costs if cost is not None and cost + 1 <= left]

    def close_now(self) -> int | None:
        """Start closing at this step (no safe candidate): the first forced token, or None
        (also inside a UTF-8 character: a closing can only follow whole characters, so the
        step is left to the grammar, whose tokens complete the character)."""
        if self.feed.pending:
            return None
        return self._start_closing(self.max_tokens - self.seen)

    def _cost_after(self, token: int) -> int | None:
        """Closing tokens once `token` is produced (None: no closing, or not JSON)."""
        if token == self.text.end_token:
            return 0 if self.prefix.value_complete() else None
        chars, pending = self.feed.peek(self.text.token_bytes(token))
        if not pending and self._plain_string_text(chars):
            return self._closing_tokens  # more text of a free string: the same closing
        # a character left open needs up to MAX_OPEN_BYTES more tokens before any closing
        extra = MAX_OPEN_BYTES if pending else 0
        if pending and not chars:
            cost = self._closing_tokens  # inside a character: the structure did not move
            return None if cost is None else cost + extra
        prefix = self.prefix.copy()
        try:
            prefix.feed(chars)
        except PrefixError:
            return None
        closings = self.closer.closings(prefix)
        return len(self.text.encode(closings[0])) + extra if closings else None

    def _plain_string_text(self, chars: str) -> bool:
        """Whether `chars` only extend a free string (no quote, no escape before or in them)."""
        if not self._free or self.prefix.shape() != self._shape:  # _free is this shape's
            return False
        scalar = getattr(self.prefix, "scalar", None)  # _free: a JSON document's open string
        return scalar is not None and not scalar.escape and '"' not in chars and "\\" not in chars

    def _closing_cost(self, remaining: int) -> int | None:
        """Tokens of the shortest closing (unverified), cached while the structure holds."""
        shape = self.prefix.shape()
        near = self._closing_tokens is not None and remaining <= self._closing_tokens + NEAR
        if shape != self._shape or near or self._closing_tokens is None:
            closings = self.closer.closings(self.prefix)
            self._closing_tokens = len(self.text.encode(closings[0])) if closings else None
            if shape != self._shape:
                self._free = self.closer.free_string(self.prefix)
            self._shape = shape
        return self._closing_tokens

    def _start_closing(self, remaining: int) -> int | None:
        text = self.feed.joined()
        closing = best_closing(self.closer, self.judge, text, self.prefix)
        ids = None if closing is None else self.text.encode(closing)
        if closing is None or ids is None or not self.text.round_trips(closing, ids):
            self.given_up = True
            log.info("budget closing: no verified closing after %d tokens", self.seen)
            return None
        if len(ids) + 1 > remaining:
            self.given_up = True
            log.info("budget closing: closing needs %d tokens, %d left", len(ids) + 1, remaining)
            return None
        self.forced = ids
        stops = self.marker is not None and self.judge.grammar_stops(text + closing)
        self.end = self.marker if stops else self.text.end_token
        return self.next_token()

    def ends_with_marker(self, token: int) -> bool:
        """Whether `token` is this step's forced marker (the grammar's mask, which allows only
        EOS once the document is complete, gave it -inf: the processor sets it)."""
        return token == self.marker and self.forced == [] and self.end == self.marker
