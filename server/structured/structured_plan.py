"""The plan for one request's structured output: what was forwarded, and how each finished
choice is checked (`check`, or `acheck`/`aannotate` off the event loop under a deadline). Built
by `server.structured.plan.plan_request`."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from server.structured.closing_report import ClosingReport
from server.structured.compiler import GrammarChecker
from server.structured.keywords import BACKEND
from server.structured.validate import json_errors, schema_validator, verdict
from server.structured.verdict_worker import unchecked_deadline

JSON_KINDS = ("json_schema", "json_object")
GRACE_S = 0.5
"""How much longer than the verdict deadline `acheck` waits for a worker that enforces it."""

Errors = list[dict[str, str]] | None


@dataclass
class StructuredPlan:
    """What the gateway enforces and checks for one request's structured output."""

    kind: str  # json_schema | json_object | regex | choice | choice_set | grammar | structural_tag
    strict: bool = False
    schema: Any = None
    spec: Any = None
    unenforced: list[dict[str, str]] = field(default_factory=list)
    compile_s: float = 0.0
    checker: GrammarChecker | None = None
    backend: str = BACKEND
    """The decoding backend the serving engine was verified to run (stamped on verdicts)."""
    verdict_timeout_s: float = 5.0
    """Deadline of one verdict (`structured_verdict_timeout_s`); past it: unchecked."""
    close_on_budget: bool = False
    """The engine closes the document before max_tokens (`server.structured.budget`)."""
    closing: ClosingReport | None = None
    """Reads whether and how the engine closed a choice (with a marker token; else unknown)."""

    def check(
        self, text: str, finish_reason: str | None, *, closed: bool | None = None
    ) -> dict[str, Any]:
        """Validate one finished choice's text (blocking: regex/grammar in a verdict worker
        under the deadline, JSON Schema here without one). `acheck` is the event loop's.

        Args:
            text: the choice's generated text.
            finish_reason: the engine's finish reason for the choice.

        Returns:
            The verdict to attach as `choice["structured_output"]`; the routes must also set
            `choice["finish_reason"] = verdict["finish_reason"]` ("schema_violation" replaces
            "stop" when the output is invalid; an unchecked output keeps the engine's).
        """
        errors, reason = self._errors(text)
        return self._verdict(errors, reason, finish_reason, self._closing(text, closed))

    async def acheck(
        self, text: str, finish_reason: str | None, *, closed: bool | None = None
    ) -> dict[str, Any]:
        """`check` in a thread, never longer than the verdict deadline (plus a grace for the
        worker to be killed): what cannot be decided in time is unchecked, never invalid."""
        try:
            async with asyncio.timeout(self.verdict_timeout_s + GRACE_S):
                return await asyncio.to_thread(self.check, text, finish_reason, closed=closed)
        except TimeoutError:
            why = unchecked_deadline(self.verdict_timeout_s)
            closing = {} if closed is None else {"closed_early": closed}
            return self._verdict(None, why, finish_reason, closing)

    async def aannotate(self, choice: dict[str, Any], text: str) -> dict[str, Any]:
        """Check one finished choice off the event loop and attach the verdict to it, in place.

        Args:
            choice: the (whole or streamed) choice carrying the engine's finish_reason.
            text: the choice's generated text (an echoed prompt already removed).

        Returns:
            The verdict, now also `choice["structured_output"]`; `choice["finish_reason"]` is
            the verdict's.
        """
        closed = None if self.closing is None else self.closing.take_marker(choice)
        result = await self.acheck(text, choice.get("finish_reason"), closed=closed)
        choice["structured_output"] = result
        choice["finish_reason"] = result.get("finish_reason", choice.get("finish_reason"))
        return result

    def annotate_unchecked(self, choice: dict[str, Any], reason: str) -> dict[str, Any]:
        """Attach an unchecked verdict (`reason` says why) to a choice; its finish_reason stays."""
        result = self._verdict(None, reason, choice.get("finish_reason"))
        choice["structured_output"] = result
        return result

    def _closing(self, text: str, closed: bool | None) -> dict[str, Any]:
        """The verdict's `closed_early` and, when closed, `closing_tokens` (none: unknown)."""
        if closed is None:
            return {}
        if not closed or self.closing is None:
            return {"closed_early": closed}
        tokens = self.closing.closing_tokens(text)
        return {"closed_early": True, **({"closing_tokens": tokens} if tokens is not None else {})}

    def _verdict(
        self,
        errors: Errors,
        reason: str,
        finish_reason: str | None,
        closing: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        return verdict(
            kind=self.kind,
            errors=errors,
            finish_reason=finish_reason,
            reason=reason,
            backend=self.backend,
            strict=self.strict,
            unenforced=self.unenforced,
            compile_ms=round(self.compile_s * 1000, 3),
            **({"close_on_budget": True} if self.close_on_budget else {}),
            **(closing or {}),
        )

    def _errors(self, text: str) -> tuple[Errors, str]:
        if self.kind in JSON_KINDS:
            return json_errors(schema_validator(self.schema), text), ""
        if self.kind in ("choice", "choice_set"):
            if text in self.spec:
                return [], ""
            return [{"pointer": "", "keyword": "choice", "message": "not one of the choices"}], ""
        if self.kind in ("regex", "grammar") and self.checker is not None:
            found = self.checker.match(self.kind, self.spec, text)
            if found.valid is None:
                return None, found.reason
            if found.valid:
                return [], ""
            message = found.reason or "no match"
            return [{"pointer": "", "keyword": self.kind, "message": message}], ""
        return None, f"unchecked: {self.kind} outputs are not validated"
