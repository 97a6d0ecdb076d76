"""`close_on_budget` (issue 19) at the gateway: who asks for it, what is refused, what is sent.

The closing itself happens in the engine (`budget_close.vllm_processor`): it forces the shortest
valid end of a JSON document when `max_tokens` runs short, then EOS, so the answer ends with
`finish_reason: "stop"` and a document the schema accepts. The gateway:

- reads the request's `close_on_budget` (a bool), else the server default
  (`structured_close_on_budget`) for requests with a JSON schema or `json_object`;
- refuses (400) an explicit `close_on_budget: true` it cannot honour: no JSON schema,
  `json_object` or regex (grammar, choice and tool calls are not closed yet), a pattern it cannot
  follow (lookarounds, backreferences, flags), `ignore_eos` (closing ends with EOS),
  engines that speculate (vLLM loads no custom logits processor then), a schema whose shortest
  document it cannot build, or a `max_tokens` below that document's tokens + 1 (the message names
  the minimum);
- forwards the flag in `vllm_xargs`, where the engine's processor finds it, and marks the plan
  so that the verdict says `close_on_budget: true`;
- with the model's tokenizer, names a marker (a special token no grammar produces) that the
  engine ends a closing with, in `vllm_xargs` and `stop_token_ids`: the answer's `stop_reason`
  then says the document was closed early (`server.structured.closing_report`).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from budget_close import MARKER_XARG, XARG
from budget_close.closer import Closer
from budget_close.document import DocumentCloser
from budget_close.regex_closer import RegexCloser
from server.errors import InvalidRequest
from server.structured.closing_report import ClosingReport
from server.structured.structured_plan import StructuredPlan

JSON_KINDS = frozenset({"json_schema", "json_object"})
CLOSABLE = JSON_KINDS | {"regex"}

TokenCount = Callable[[str], int]
CACHED_CLOSERS = 64


@dataclass(frozen=True)
class BudgetPolicy:
    """The server's budget-closing settings."""

    default: bool = False
    refusal: str | None = None  # why the engines cannot close (speculative decoding)
    count_tokens: Callable[[], TokenCount | None] | None = None  # the model's tokenizer, if any
    marker: Callable[[], int | None] | None = None  # the closing's stop token, with a tokenizer

    def apply(self, body: dict[str, Any], plan: StructuredPlan | None) -> bool:
        """Decide for one request, forward the flag (in place); returns whether it closes.

        Raises:
            InvalidRequest: `close_on_budget: true` that this request or server cannot honour.
        """
        asked = body.pop("close_on_budget", None)
        closable = plan is not None and plan.kind in CLOSABLE and plan.spec is not None
        if asked is None:
            if not (self.default and closable and self.refusal is None) or body.get("ignore_eos"):
                return False
        elif not asked:
            return False
        else:
            self._check(body, closable)
        assert plan is not None
        closer = _closer_or_none(plan, explicit=asked is not None)
        if closer is None or not self._fits(closer, body, explicit=asked is not None):
            return False
        xargs = body.get("vllm_xargs")
        body["vllm_xargs"] = {**(xargs if isinstance(xargs, dict) else {}), XARG: True}
        plan.close_on_budget = True  # the verdict says so
        self._mark(body, plan, closer)
        return True

    def _mark(self, body: dict[str, Any], plan: StructuredPlan, closer: DocumentCloser) -> None:
        """Name the closing's marker to the engine, as a stop token too, when there is one."""
        marker = self.marker() if self.marker is not None else None
        count = self.count_tokens() if self.count_tokens is not None else None
        if marker is None or count is None:
            return
        body["vllm_xargs"][MARKER_XARG] = marker
        stops = body.get("stop_token_ids")
        body["stop_token_ids"] = [*(stops if isinstance(stops, list) else []), marker]
        kind = "regex" if plan.kind == "regex" else "json"
        plan.closing = ClosingReport(marker, closer, count, kind, plan.spec)

    def _check(self, body: dict[str, Any], closable: bool) -> None:
        if not closable:
            raise _refused(
                "close_on_budget needs a JSON schema, json_object or regex structured output"
            )
        if self.refusal is not None:
            raise _refused(f"close_on_budget is unavailable: {self.refusal}")
        if body.get("ignore_eos"):
            raise _refused("close_on_budget ends the document with EOS: not with ignore_eos")

    def _fits(self, closer: DocumentCloser, body: dict[str, Any], *, explicit: bool) -> bool:
        """Whether the schema's shortest document fits the budget (400 when `explicit`)."""
        minimum = closer.minimum_document()
        if minimum is None:
            if explicit:
                raise _refused("close_on_budget cannot build a shortest document for this schema")
            return False
        budget = body.get("max_completion_tokens") or body.get("max_tokens")
        count = self.count_tokens() if self.count_tokens is not None else None
        if budget is None or count is None:
            return True  # no budget given (the engine's default), or no tokenizer to count with
        need = count(minimum) + 1  # the document, then EOS
        if need > int(budget) and explicit:
            raise InvalidRequest(
                f"max_tokens {budget} cannot hold the schema's shortest document ({need} tokens "
                f"with EOS: {minimum[:200]}); raise max_tokens to at least {need}",
                param="max_tokens",
                code="budget_below_minimum_document",
            )
        return need <= int(budget)


def closer_of(kind: str, spec: Any) -> DocumentCloser:
    """The closer of a request's constraint (`kind` json_schema, json_object or regex), shared
    by the requests that send the same one (a schema's shortest document is computed once: up to
    0.2 s on the dev split's largest schemas).

    Raises:
        ValueError: a pattern budget closing cannot follow.
    """
    return _closer(kind == "regex", json.dumps(spec, sort_keys=True))


@functools.lru_cache(maxsize=CACHED_CLOSERS)
def _closer(regex: bool, key: str) -> DocumentCloser:
    spec = json.loads(key)
    return RegexCloser(spec) if regex else Closer(spec)


def _closer_or_none(plan: StructuredPlan, *, explicit: bool) -> DocumentCloser | None:
    """The plan's closer; a pattern it cannot follow is a 400 when `explicit`, else None."""
    try:
        return closer_of(plan.kind, plan.spec)
    except ValueError as exc:
        if explicit:
            raise _refused(f"close_on_budget: {exc}") from None
        return None


def _refused(message: str) -> InvalidRequest:
    return InvalidRequest(message, param="close_on_budget", code="close_on_budget_unsupported")
