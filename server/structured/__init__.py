"""Structured-output policy: schema checks, strict mode, server-side validation.

The routes use one `StructuredService` (built in `build_app`, kept on `app.state.structured`):

- before forwarding: `plan = await service.aplan(body)` — may rewrite `body` in place, raises
  `InvalidRequest` (400) for schemas it refuses; None when no structured output is asked for;
- non-streaming, per finished choice: `v = plan.check(text, choice["finish_reason"])`, then
  `choice["structured_output"] = v` and `choice["finish_reason"] = v["finish_reason"]`;
- streaming: the same on the chunk that carries a choice's finish_reason, with the choice's text
  reassembled per index (`server.streaming.StreamObserver`).
"""

from __future__ import annotations

from server.structured.plan import StructuredPlan, plan_request
from server.structured.schema import StructuredLimits
from server.structured.service import StructuredService

__all__ = ["StructuredLimits", "StructuredPlan", "StructuredService", "plan_request"]
