"""The structured-output plan of a tools request: how a finished output is judged.

A `ToolPlan` is a `StructuredPlan` (kind "tool_calls"), so the generation path annotates its
choices like any other (unary and streamed); its verdict also carries one verdict per call,
each validated against the client's own `parameters` schema of the named function.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from server.structured import StructuredPlan
from server.tools.dedupe import distinct_calls
from server.tools.syntax import ParsedOutput, parse_output

KIND = "tool_calls"


@dataclass
class ToolPlan(StructuredPlan):
    """What a tools request enforces (`spec`: the grammar) and how its outputs are checked."""

    tools: dict[str, StructuredPlan] = field(default_factory=dict)
    """The plan of each callable function's arguments, by name."""
    allow_text: bool = False  # tool_choice auto: a non-call answer is allowed
    parallel: bool = True  # more than one call allowed
    text_plan: StructuredPlan | None = None  # auto + response_format: the non-call answer's
    dedupe: bool = False  # identical calls sent once (server.tools.dedupe)
    stop_at_repeat: bool = False  # the answer ends at its first repeat (server.tools.repeat_stop)

    def calls(self, parsed: ParsedOutput) -> list[tuple[str, str]]:
        """The calls of an output that reach the client (repeats dropped when `dedupe`)."""
        if not self.dedupe:
            return parsed.calls
        return [parsed.calls[i] for i in distinct_calls(parsed.calls)]

    def check(
        self, text: str, finish_reason: str | None, *, closed: bool | None = None
    ) -> dict[str, Any]:
        """Judge one finished output (blocking; `acheck` runs it off the event loop).

        Args:
            text: the generated text.
            finish_reason: the engine's finish reason.
            closed: unused (tool calls are not budget-closed).

        Returns:
            The verdict (`structured_output`) with `tool_calls`: one verdict per call. Its
            `finish_reason`: "tool_calls" for valid calls the engine stopped after,
            "schema_violation" for invalid ones, "stop" for a valid text answer, the engine's
            otherwise ("length").
        """
        parsed = parse_output(text, allow_text=self.allow_text)
        if parsed.complete and not parsed.calls:
            return self._text_verdict(text, finish_reason)
        sent = self.calls(parsed)
        calls = [self._call_verdict(i, name, args) for i, (name, args) in enumerate(sent)]
        errors = []
        if parsed.error:
            errors.append({"pointer": "", "keyword": KIND, "message": parsed.error})
        if not self.parallel and len(calls) > 1:
            message = f"{len(calls)} calls where parallel_tool_calls is false"
            errors.append({"pointer": "", "keyword": KIND, "message": message})
        for call in calls:
            prefix = f"/tool_calls/{call['index']}/arguments"
            errors += [{**e, "pointer": prefix + e["pointer"]} for e in call["errors"]]
        result = self._verdict(errors, "", finish_reason)
        if finish_reason == "stop" and result["valid"]:
            result["finish_reason"] = KIND
        result[KIND] = calls
        if len(sent) < len(parsed.calls):
            result["duplicate_calls_dropped"] = len(parsed.calls) - len(sent)
        return result

    def _text_verdict(self, text: str, finish_reason: str | None) -> dict[str, Any]:
        errors: list[dict[str, str]] | None = []
        reason = ""
        if self.text_plan is not None:
            judged = self.text_plan.check(text, finish_reason)
            errors = judged["errors"] if judged["checked"] else None
            reason = judged.get("reason", "")
        result = self._verdict(errors, reason, finish_reason)
        result[KIND] = []
        return result

    def _call_verdict(self, index: int, name: str, arguments: str) -> dict[str, Any]:
        plan = self.tools.get(name)
        if plan is None:
            message = f"{name!r} is not a function this request allows"
            errors = [{"pointer": "", "keyword": "name", "message": message}]
            return {"index": index, "name": name, "checked": True, "valid": False,
                    "errors": errors, "strict": False, "unenforced": []}  # fmt: skip
        judged = plan.check(arguments, None)
        return {
            "index": index,
            "name": name,
            "checked": judged["checked"],
            "valid": judged["valid"],
            "errors": judged["errors"],
            "strict": plan.strict,
            "unenforced": plan.unenforced,
        }
