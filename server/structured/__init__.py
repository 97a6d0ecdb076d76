"""Structured-output policy: schema checks, strict mode, server-side validation.

The routes call exactly two things: `plan_request(body, limits)` before forwarding (it may
rewrite the body in place and raises `InvalidRequest` for schemas it refuses), and
`StructuredPlan.check(text, finish_reason)` on each finished choice, whose result is attached to
the choice as `structured_output`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class StructuredPlan:
    """What the gateway enforces and checks for one request's structured output."""

    kind: str  # json_schema | json_object | regex | choice | grammar
    schema: dict[str, Any] | None = None
    unenforced: list[str] = field(default_factory=list)

    def check(self, text: str, finish_reason: str | None) -> dict[str, Any]:
        """Validate one finished choice's text; returns the verdict attached to the choice."""
        return {"kind": self.kind, "checked": False, "unenforced": self.unenforced}


def plan_request(body: dict[str, Any]) -> StructuredPlan | None:
    """Inspect a request's structured-output fields; None when it asks for none."""
    return None
