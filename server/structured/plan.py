"""Turn a request's structured-output fields into a plan: what is forwarded, enforced, checked.

`plan_request` runs before the body is forwarded (it may rewrite it in place); the plan's
`check` runs on each finished choice (streamed choices are reassembled by `server.streaming`).
"""

from __future__ import annotations

import copy
import logging
from typing import Any

from grammar.llg import JSON_DEFAULTS
from server.errors import InvalidRequest
from server.structured.bounds import apply_bounds
from server.structured.closing import close_objects
from server.structured.compiler import CompileVerdict, GrammarChecker
from server.structured.finite import check_finite
from server.structured.keywords import (
    BACKEND,
    keywords_in_message,
    unenforced_keywords,
    unknown_formats,
)
from server.structured.rewrites import rewrite_schema
from server.structured.schema import StructuredLimits, check_regex, check_schema, too_complex
from server.structured.structured_plan import StructuredPlan
from server.structured.walk import resolve_pointer

log = logging.getLogger("structserve.structured")


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
        if len(value) > limits.max_choices:
            raise too_complex(
                f"{len(value)} choices, limit {limits.max_choices} (register a choice set for "
                "more: docs/choice_sets.md)",
                param=param,
            )
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


def plan_schema(
    schema: Any,
    strict: bool,
    checker: GrammarChecker | None,
    limits: StructuredLimits,
    *,
    param: str,
) -> StructuredPlan:
    """The policy `response_format` json_schema gets, for any schema (e.g. a tool's parameters):
    limits, metaschema, rewrites, strict refusal, bounds, compile check.

    Args:
        schema: the client's schema (not modified).
        strict: refuse (400) what the backend cannot enforce, instead of listing it.
        checker: the compile worker (None: no compile check).
        limits: the configured bounds.
        param: the request parameter named in errors.

    Returns:
        The plan: `spec` is the schema to forward (with `x-guidance`), `schema` the client's.

    Raises:
        InvalidRequest: as for `response_format`.
    """
    return _plan_schema(schema, strict, checker, limits, param=param)


def _plan_schema(
    schema: Any,
    strict: bool,
    checker: GrammarChecker | None,
    limits: StructuredLimits,
    *,
    param: str,
    rewrite: bool = True,
) -> StructuredPlan:
    if rewrite:
        check_schema(schema, limits, param=param)
        check_finite(schema, param=param)
    rewritten = _rewritten(schema, full=rewrite)  # equivalent, more enforceable
    fallback_differs = rewrite and rewritten != _rewritten(schema, full=False)
    unenforced = unenforced_keywords(rewritten)
    if strict and unenforced:
        raise _unsupported(unenforced, param=param)
    forwarded = strip_keywords(rewritten, unenforced + unknown_formats(rewritten))
    if isinstance(forwarded, dict):
        options = dict(JSON_DEFAULTS) if strict else {**JSON_DEFAULTS, "coerce_one_of": True}
        forwarded["x-guidance"] = options
    try:
        forwarded, result = _compile_bounded(checker, forwarded, limits, param=param)
    except InvalidRequest:
        if not fallback_differs:
            raise
        result = CompileVerdict("the rewritten schema is too complex")
    if result.error and fallback_differs:  # a rewrite never costs a schema
        return _plan_schema(schema, strict, checker, limits, param=param, rewrite=False)
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
        schema=schema,  # the client's: outputs are validated against it, never a rewrite
        spec=forwarded,
        unenforced=unenforced + weakened,
        compile_s=result.seconds,
    )


def _rewritten(schema: Any, *, full: bool) -> Any:
    """The schema after every rewrite (`full`) or only the essential ones; a failing full rewrite
    (a bug of ours) falls back to the essential ones, never failing the request."""
    if full:
        try:
            return rewrite_schema(schema)
        except Exception:
            log.exception("schema rewrite failed; serving the schema with essential rewrites only")
    return rewrite_schema(schema, essential_only=True)


def _compile_bounded(
    checker: GrammarChecker | None, forwarded: Any, limits: StructuredLimits, *, param: str
) -> tuple[Any, CompileVerdict]:
    """Compile the schema with the generation bounds (closed objects, then blank runs and
    integers); if that grammar is refused, too complex or weakened, the one without closing, then
    the client's own (a bound never costs coverage: the last verdict is the schema's own)."""
    bounded = copy.deepcopy(forwarded)
    changed = apply_bounds(
        bounded, max_blank_run=limits.max_blank_run, safe_integers=limits.safe_integers
    )
    closed = copy.deepcopy(bounded)
    candidates = [closed] if limits.close_objects and close_objects(closed) else []
    candidates += [bounded] if changed else []
    for spec in candidates:
        try:
            result = _compile(checker, "json", spec, param=param)
        except InvalidRequest:  # too complex with the bounds: try with fewer
            continue
        if checker is None or not (result.error or result.warnings):
            return spec, result
    return forwarded, _compile(checker, "json", forwarded, param=param)


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


def strip_keywords(schema: Any, unenforced: list[dict[str, str]]) -> Any:
    """A copy of `schema` without the listed keywords (`{"keyword", "pointer"}` items, as
    `keywords.unenforced_keywords` gives them): what a non-strict request forwards."""
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


def _load_json(text: str, *, param: str) -> Any:
    import json

    try:
        return json.loads(text)
    except ValueError as exc:
        raise InvalidRequest(f"not valid JSON: {exc}", param=param) from None
