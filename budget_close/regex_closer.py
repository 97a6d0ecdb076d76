"""Budget closing of `regex` structured output (issue 19): the whole output must match the
pattern, as the engine's grammar (llguidance) reads `structured_outputs.regex`, so the shortest
closing of an output is the fewest characters that take the pattern's NFA from the state set
after the output to acceptance (`regex_search`). The state set is the document's state: it is
fed incrementally, and two outputs with the same set have the same closings (the cache key).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from budget_close.json_prefix import PrefixError
from budget_close.regex_search import Search, compile_search, shortest_from
from budget_close.strings import PRINTABLE

ALPHABET = PRINTABLE + '"\\\n'  # what a closing may write: printable ASCII and newline
CACHED = 1024  # state sets whose closing is kept


@dataclass
class RegexPrefix:
    """The pattern's NFA states after the output so far."""

    search: Search
    states: frozenset[int]
    size: int = 0

    def feed(self, text: str) -> None:
        """Consume more output.

        Raises:
            PrefixError: no match of the pattern can begin with the output.
        """
        for char in text:
            self.states = self.search.step(self.states, char)
            if not self.states:
                raise PrefixError(f"the output leaves the pattern at {char!r}")
        self.size += len(text)

    def copy(self) -> RegexPrefix:
        """An independent copy (state sets are immutable)."""
        return RegexPrefix(self.search, self.states, self.size)

    def value_complete(self) -> bool:
        """Whether the output so far matches the whole pattern."""
        return self.search.accepting(self.states)

    def shape(self) -> object:
        """What the closings depend on: the state set."""
        return self.states


class RegexCloser:
    """Shortest ends of outputs under one pattern (whole-text match)."""

    def __init__(self, pattern: str) -> None:
        """Raises: ValueError when the pattern uses what `regex_search` does not follow."""
        search = compile_search(pattern, whole=True)
        if search is None:
            raise ValueError("the pattern uses syntax budget closing does not follow")
        self.search = search
        self._ends: OrderedDict[frozenset[int], str | None] = OrderedDict()

    def new_prefix(self) -> RegexPrefix:
        """The state before any output."""
        return RegexPrefix(self.search, self.search.begin())

    def minimum_document(self) -> str | None:
        """The shortest text the pattern matches."""
        return self._end(self.new_prefix().states)

    def closings(self, prefix: RegexPrefix) -> list[str]:
        """The shortest completion of the output (empty list: none found)."""
        end = self._end(prefix.states)
        return [] if end is None else [end]

    def free_string(self, _prefix: RegexPrefix) -> bool:
        """Never: every character moves the NFA."""
        return False

    def _end(self, states: frozenset[int]) -> str | None:
        if states in self._ends:
            self._ends.move_to_end(states)
            return self._ends[states]
        end = shortest_from(self.search, states, 0, 0, None, ALPHABET)
        self._ends[states] = end
        while len(self._ends) > CACHED:
            self._ends.popitem(last=False)
        return end
