"""What budget closing needs of a kind of document (JSON: `json_prefix` + `closer`; a regex
constraint: `regex_closer`): a state fed with the output, and the shortest ways to finish it."""

from __future__ import annotations

from typing import Any, Protocol


class Prefix(Protocol):
    """A document's state after the output so far."""

    def feed(self, text: str) -> None:
        """Consume more output (raises `json_prefix.PrefixError` when it cannot continue)."""

    def copy(self) -> Any:
        """An independent copy, of the same class."""

    def value_complete(self) -> bool:
        """Whether the output so far is a whole document."""

    def shape(self) -> object:
        """A key that changes whenever the closings may change in more than the open text."""


class DocumentCloser(Protocol):
    """Shortest completions of one constraint's documents."""

    def new_prefix(self) -> Any:
        """The state before any output (a `Prefix`)."""

    def minimum_document(self) -> str | None:
        """The shortest whole document (None: none found)."""

    def closings(self, prefix: Any) -> list[str]:
        """Candidate completions of `prefix`, shortest first."""

    def free_string(self, prefix: Any) -> bool:
        """Whether plain text added at `prefix` leaves its closings as they are."""
