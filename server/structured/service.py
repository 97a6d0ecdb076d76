"""The gateway's structured-output service: one per app, owns the compile worker and limits."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from server.structured.compiler import GrammarChecker
from server.structured.plan import plan_request
from server.structured.schema import StructuredLimits
from server.structured.structured_plan import StructuredPlan

if TYPE_CHECKING:
    from server.settings import Settings


class StructuredService:
    """Plans structured-output requests; create in `build_app`, `close()` on shutdown."""

    def __init__(self, limits: StructuredLimits | None = None) -> None:
        """Args: limits: bounds on schemas and compiles (defaults when None)."""
        self.limits = limits or StructuredLimits()
        self.checker = GrammarChecker(
            timeout_s=self.limits.compile_timeout_s,
            cache_size=self.limits.cache_size,
            verdict_timeout_s=self.limits.verdict_timeout_s,
            verdict_workers=self.limits.verdict_workers,
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> StructuredService:
        """Build from the gateway settings' `structured_*` fields."""
        return cls(
            StructuredLimits(
                max_schema_bytes=settings.structured_max_schema_bytes,
                compile_timeout_s=settings.structured_compile_timeout_s,
                verdict_timeout_s=settings.structured_verdict_timeout_s,
                max_blank_run=settings.structured_max_blank_run,
                safe_integers=settings.structured_safe_integers,
                close_objects=settings.structured_close_objects,
            )
        )

    def plan(
        self, body: dict[str, Any], limits: StructuredLimits | None = None
    ) -> StructuredPlan | None:
        """`plan_request` with this service's worker and limits (blocking); `limits` replaces
        them for one request (a schema that embeds a choice set's items)."""
        limits = limits or self.limits
        plan = plan_request(body, self.checker, limits)
        if plan is not None:
            plan.verdict_timeout_s = limits.verdict_timeout_s
        return plan

    async def aplan(
        self, body: dict[str, Any], limits: StructuredLimits | None = None
    ) -> StructuredPlan | None:
        """`plan` off the event loop, so a slow compile never stalls other requests.

        Args:
            body: the request body (rewritten in place).
            limits: this request's bounds (default: the service's).

        Returns:
            The plan, or None when the request asks for no structured output.

        Raises:
            InvalidRequest: see `plan_request`.
        """
        return await asyncio.to_thread(self.plan, body, limits)

    def start(self) -> None:
        """Start the compile worker (otherwise it starts with the first structured request)."""
        self.checker.start()

    def close(self) -> None:
        """Stop the compile worker."""
        self.checker.close()
