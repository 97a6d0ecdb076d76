"""Structured-output policy: schema checks, strict mode, server-side validation.

The routes use one `StructuredService` (built in `build_app`, kept on `app.state.structured`):

- before forwarding: `plan = await service.aplan(body)` — may rewrite `body` in place, raises
  `InvalidRequest` (400) for schemas it refuses; None when no structured output is asked for;
- non-streaming, per finished choice: `await plan.aannotate(choice, text)` (off the event loop,
  under the verdict deadline): `choice["structured_output"]` and `choice["finish_reason"]` set;
- streaming: the same on the chunk that carries a choice's finish_reason, with the choice's text
  reassembled per index (`server.streaming.StreamObserver`).
"""

from __future__ import annotations

from server.structured.plan import plan_request
from server.structured.schema import StructuredLimits
from server.structured.service import StructuredService
from server.structured.structured_plan import StructuredPlan

__all__ = ["StructuredLimits", "StructuredPlan", "StructuredService", "plan_request"]
