"""Turn a request's structured-output fields into a plan: what is forwarded, enforced, checked.

`plan_request` runs before the body is forwarded (it may rewrite it in place); the plan's
`check` runs on each finished choice (streamed choices are reassembled by `server.streaming`).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from server.errors import InvalidRequest
from server.structured.bounds import apply_bounds
from server.structured.compiler import CompileVerdict, GrammarChecker
from server.structured.finite import check_finite
from server.structured.keywords import (
    BACKEND,
    keywords_in_message,
    unenforced_keywords,
    unknown_formats,
)
from server.structured.llg import JSON_DEFAULTS
from server.structured.schema import StructuredLimits, check_regex, check_schema, too_complex
from server.structured.validate import json_errors, schema_validator, verdict
from server.structured.walk import resolve_pointer, subschemas

JSON_KINDS = ("json_schema", "json_object")


@dataclass
class StructuredPlan:
    """What the gateway enforces and checks for one request's structured output."""

    kind: str  # json_schema | json_object | regex | choice | grammar | structural_tag
    strict: bool = False
    schema: Any = None
    spec: Any = None
    unenforced: list[dict[str, str]] = field(default_factory=list)
    compile_s: float = 0.0
    checker: GrammarChecker | None = None

    def check(self, text: str, finish_reason: str | None) -> dict[str, Any]:
        """Validate one finished choice's text.

        Args:
            text: the choice's whole generated text.
            finish_reason: the engine's finish reason for the choice.

        Returns:
            The verdict to attach as `choice["structured_output"]`; the routes must also set
            `choice["finish_reason"] = verdict["finish_reason"]` ("schema_violation" replaces
            "stop" when the output is invalid).
        """
        extra = {
            "backend": BACKEND,
            "strict": self.strict,
            "unenforced": self.unenforced,
            "compile_ms": round(self.compile_s * 1000, 3),
        }
        errors = self._errors(text)
        return verdict(kind=self.kind, errors=errors, finish_reason=finish_reason, **extra)

    def annotate(self, choice: dict[str, Any], text: str) -> dict[str, Any]:
        """Check one finished choice and attach the verdict to it, in place.

        Args:
            choice: the (whole or streamed) choice carrying the engine's finish_reason.
            text: the choice's whole generated text.

        Returns:
            The verdict, now also `choice["structured_output"]`; `choice["finish_reason"]` is
            the verdict's.
        """
        result = self.check(text, choice.get("finish_reason"))
        choice["structured_output"] = result
        choice["finish_reason"] = result.get("finish_reason", choice.get("finish_reason"))
        return result

    def _errors(self, text: str) -> list[dict[str, str]] | None:
        if self.kind in JSON_KINDS:
            return json_errors(schema_validator(self.schema), text)
        if self.kind == "choice":
            if text in self.spec:
                return []
            return [{"pointer": "", "keyword": "choice", "message": "not one of the choices"}]
        if self.kind in ("regex", "grammar") and self.checker is not None:
            ok = self.checker.matches(self.kind, self.spec, text)
            return [] if ok else [{"pointer": "", "keyword": self.kind, "message": "no match"}]
        return None


def plan_request(
    body: dict[str, Any],
    checker: GrammarChecker | None = None,
    limits: StructuredLimits | None = None,
) -> StructuredPlan | None:
    """Inspect (and rewrite in place) a request's structured-output fields.

    Args:
        body: the chat or completions request body.
        checker: the llguidance compile worker; None skips the compile check (and so the
            "too complex" bound and the backend's own refusals): use `StructuredService.aplan`.
        limits: the configured bounds (defaults when None).

    Returns:
        The plan, or None when the request asks for no structured output.

    Raises:
        InvalidRequest: the schema/regex/grammar is invalid, too complex, or (strict) uses
            keywords the backend cannot enforce.
    """
    limits = limits or StructuredLimits()
    fmt = body.get("response_format")
    outputs = body.get("structured_outputs")
    wants_format = isinstance(fmt, dict) and fmt.get("type", "text") != "text"
    if fmt is not None and not isinstance(fmt, dict):
        raise InvalidRequest("response_format must be an object", param="response_format")
    if outputs is not None and not isinstance(outputs, dict):
        raise InvalidRequest("structured_outputs must be an object", param="structured_outputs")
    if wants_format and outputs:
        raise InvalidRequest(
            "use either response_format or structured_outputs, not both",
            param="structured_outputs",
        )
    if wants_format and isinstance(fmt, dict):
        return _plan_format(fmt, checker, limits)
    if outputs:
        return _plan_outputs(outputs, checker, limits)
    return None


def _plan_format(
    fmt: dict[str, Any], checker: GrammarChecker | None, limits: StructuredLimits
) -> StructuredPlan:
    kind = fmt.get("type")
    if kind == "json_object":
        schema: dict[str, Any] = {"type": "object"}
        plan = _plan_schema(schema, True, checker, limits, param="response_format")
        fmt.clear()
        fmt.update(
            type="json_schema",
            json_schema={"name": "json_object", "schema": plan.spec, "strict": True},
        )
        plan.kind = "json_object"
        return plan
    if kind == "json_schema":
        spec = fmt.get("json_schema")
        if not isinstance(spec, dict) or "schema" not in spec:
            raise InvalidRequest(
                "response_format.json_schema must be an object with a `schema`",
                param="response_format.json_schema",
            )
        strict = spec.get("strict") is True
        param = "response_format.json_schema.schema"
        plan = _plan_schema(spec["schema"], strict, checker, limits, param=param)
        spec["schema"] = plan.spec
        return plan
    if kind in ("structural_tag",):
        return StructuredPlan(kind=str(kind))
    raise InvalidRequest(f"unsupported response_format type {kind!r}", param="response_format.type")


def _plan_outputs(
    outputs: dict[str, Any], checker: GrammarChecker | None, limits: StructuredLimits
) -> StructuredPlan:
    kinds = [k for k in ("json", "json_object", "regex", "choice", "grammar", "structural_tag")
             if outputs.get(k) not in (None, False)]  # fmt: skip
    if len(kinds) != 1:
        raise InvalidRequest(
            f"structured_outputs needs exactly one of json, json_object, regex, choice, grammar, "
            f"structural_tag (found {kinds or 'none'})",
            param="structured_outputs",
        )
    kind, value = kinds[0], outputs[kinds[0]]
    param = f"structured_outputs.{kind}"
    if kind in ("json", "json_object"):
        schema = value if kind == "json" else {"type": "object"}
        if isinstance(schema, str):
            schema = _load_json(schema, param=param)
        plan = _plan_schema(schema, kind == "json_object", checker, limits, param=param)
        outputs.pop("json_object", None)
        outputs["json"] = plan.spec
        plan.kind = "json_schema" if kind == "json" else "json_object"
        return plan
    if kind == "structural_tag":
        return StructuredPlan(kind=kind)
    return _plan_text(kind, value, checker, limits, param=param)


def _plan_text(
    kind: str, value: Any, checker: GrammarChecker | None, limits: StructuredLimits, *, param: str
) -> StructuredPlan:
    if kind == "choice":
        if not (isinstance(value, list) and value and all(isinstance(v, str) for v in value)):
            raise InvalidRequest("choice must be a non-empty list of strings", param=param)
        if len(value) > limits.max_enum_values:
            raise too_complex(f"{len(value)} choices, limit {limits.max_enum_values}", param=param)
    elif not isinstance(value, str) or not value:
        raise InvalidRequest(f"{kind} must be a non-empty string", param=param)
    if kind == "regex":
        check_regex(value, limits, pointer="regex", param=param)
    if kind == "grammar" and len(value) > limits.max_schema_bytes:
        raise too_complex(f"grammar of {len(value)} characters", param=param)
    result = _compile(checker, kind, value, param=param)
    if result.error:
        raise InvalidRequest(f"invalid {kind}: {result.error}", param=param)
    return StructuredPlan(
        kind=kind, strict=True, spec=value, compile_s=result.seconds, checker=checker
    )


def _plan_schema(
    schema: Any,
    strict: bool,
    checker: GrammarChecker | None,
    limits: StructuredLimits,
    *,
    param: str,
) -> StructuredPlan:
    check_schema(schema, limits, param=param)
    check_finite(schema, param=param)
    unenforced = unenforced_keywords(schema)
    if strict and unenforced:
        raise _unsupported(unenforced, param=param)
    forwarded = _strip(schema, unenforced + unknown_formats(schema))
    if limits.close_objects:
        _close_objects(forwarded)
    if isinstance(forwarded, dict):
        options = dict(JSON_DEFAULTS) if strict else {**JSON_DEFAULTS, "coerce_one_of": True}
        forwarded["x-guidance"] = options
    forwarded, result = _compile_bounded(checker, forwarded, limits, param=param)
    if result.error:
        named = keywords_in_message(schema, result.error)
        if named and not any(word in result.error for word in ("too big", "limit")):
            raise _unsupported(named, param=param)
        raise InvalidRequest(
            f"the decoding backend cannot compile this schema: {result.error}", param=param
        )
    weakened = [item for w in result.warnings for item in _warning_items(schema, w)]
    if strict and weakened:
        raise _unsupported(weakened, param=param)
    return StructuredPlan(
        kind="json_schema",
        strict=strict,
        schema=schema,
        spec=forwarded,
        unenforced=unenforced + weakened,
        compile_s=result.seconds,
    )


def _compile_bounded(
    checker: GrammarChecker | None, forwarded: Any, limits: StructuredLimits, *, param: str
) -> tuple[Any, CompileVerdict]:
    """Compile the schema with the generation bounds; without them if only they fail to compile
    (a bound never costs coverage)."""
    bounded = copy.deepcopy(forwarded)
    changed = apply_bounds(
        bounded, max_blank_run=limits.max_blank_run, safe_integers=limits.safe_integers
    )
    if not changed:
        return forwarded, _compile(checker, "json", forwarded, param=param)
    try:
        result = _compile(checker, "json", bounded, param=param)
    except InvalidRequest:  # too complex with the bounds: try without
        return forwarded, _compile(checker, "json", forwarded, param=param)
    if result.error and checker is not None:
        plain = _compile(checker, "json", forwarded, param=param)
        if not plain.error:
            return forwarded, plain
    return bounded, result


def _compile(checker: GrammarChecker | None, kind: str, spec: Any, *, param: str) -> CompileVerdict:
    if checker is None:
        return CompileVerdict(None)
    result = checker.compile(kind, spec)
    if result.timed_out:
        raise too_complex(f"compiling took longer than {checker.timeout_s:g} s", param=param)
    if result.error and any(w in result.error for w in ("too big", "limit", "too many")):
        raise too_complex(result.error, param=param)
    return result


def _warning_items(schema: Any, warning: str) -> list[dict[str, str]]:
    return keywords_in_message(schema, warning) or [
        {"keyword": "", "pointer": "", "reason": warning}
    ]


def _unsupported(items: list[dict[str, str]], *, param: str) -> InvalidRequest:
    listed = "; ".join(f"{item['keyword']} at {item['pointer'] or '/'}" for item in items)
    return InvalidRequest(
        f"strict schema uses keywords the {BACKEND} decoding backend cannot enforce: {listed}",
        param=param,
        code="unsupported_schema_keywords",
    )


def _strip(schema: Any, unenforced: list[dict[str, str]]) -> Any:
    copied = copy.deepcopy(schema)
    for item in sorted(unenforced, key=lambda i: len(i["pointer"])):
        parent, _, _ = item["pointer"].rpartition("/")
        try:
            node = resolve_pointer(copied, parent)
        except KeyError:
            continue  # already removed with an enclosing keyword
        if isinstance(node, dict):
            node.pop(item["keyword"], None)
    return copied


def _close_objects(schema: Any) -> None:
    if not isinstance(schema, dict) or any("allOf" in node for _, node in subschemas(schema)):
        return
    for _, node in subschemas(schema):
        if (
            isinstance(node.get("properties"), dict)
            and "additionalProperties" not in node
            and "patternProperties" not in node
            and "unevaluatedProperties" not in node
            and set(node.get("required") or []) <= set(node["properties"])
        ):
            node["additionalProperties"] = False


def _load_json(text: str, *, param: str) -> Any:
    import json

    try:
        return json.loads(text)
    except ValueError as exc:
        raise InvalidRequest(f"not valid JSON: {exc}", param=param) from None
