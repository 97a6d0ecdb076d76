"""The judge of a completion: the schema (jsonschema) and, when given, the engine's grammar.

A closing is forced into the output only if the finished document passes both: the schema is the
promise to the client, the grammar is what the engine's structured-output mask will let through
(the two masks must agree, or the forced token would meet -inf).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import jsonschema

from budget_close.document import DocumentCloser
from grammar.llg import ByteGrammar

GrammarCheck = Callable[[str], bool]


class Judge:
    """Validity of whole documents for one schema (None: not JSON, the grammar alone judges)."""

    def __init__(
        self,
        schema: Any,
        grammar: GrammarCheck | None = None,
        stops: GrammarCheck | None = None,
    ) -> None:
        self.validator: Any = None
        if schema is not None:
            cls = jsonschema.validators.validator_for(
                schema, default=jsonschema.Draft202012Validator
            )
            self.validator = cls(schema, format_checker=cls.FORMAT_CHECKER)
        self.grammar = grammar
        self.stops = stops
        """Whether the grammar allows nothing after a document (its matcher is then stopped)."""

    def grammar_stops(self, document: str) -> bool:
        """Whether the engine's grammar is stopped after `document` (False when unchecked)."""
        return self.stops is not None and self.stops(document)

    def accepts(self, document: str) -> bool:
        """Whether `document` parses, validates and (when checked) fits the grammar."""
        if self.validator is None:
            return self.grammar is None or self.grammar(document)
        try:
            value = json.loads(document)
        except ValueError:
            return False
        try:
            if not self.validator.is_valid(value):
                return False
        except jsonschema.exceptions.SchemaError:
            return False
        return self.grammar is None or self.grammar(document)


def best_closing(closer: DocumentCloser, judge: Judge, text: str, prefix: Any) -> str | None:
    """The shortest candidate closing of `text` (whose state is `prefix`) that the judge
    accepts; None when no candidate passes."""
    for closing in closer.closings(prefix):
        if judge.accepts(text + closing):
            return closing
    return None


def judge_of(kind: str, spec: Any) -> Judge:
    """The judge of a "json" (spec: the schema) or "regex" (spec: the pattern, which the grammar
    alone judges) constraint, its grammar compiled once."""
    grammar = ByteGrammar(kind, spec)
    schema = spec if kind == "json" else None
    return Judge(schema, grammar.matches, stops=grammar.stops_after)
