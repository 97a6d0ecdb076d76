"""Server-side verdicts on finished outputs: JSON Schema (Draft 2020-12 with format assertions),
JSON object, regex, choice and grammar.

Policy (docs/structured.md): a choice that finished with `stop` but fails validation gets
`finish_reason: "schema_violation"`, so `stop` always means valid; truncation stays `length`.
"""

from __future__ import annotations

import json
import math
from typing import Any

import jsonschema

MAX_ERRORS = 10
VIOLATION = "schema_violation"


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_json(text: str) -> tuple[Any, str | None]:
    """Parse strict JSON (no NaN/Infinity); returns (value, error message or None)."""
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except ValueError as exc:
        return None, f"not valid JSON: {exc}"
    if isinstance(value, float) and not math.isfinite(value):
        return None, "not valid JSON: non-finite number"
    return value, None


def validator_class(schema: Any) -> type[jsonschema.protocols.Validator]:
    """The validator class of the schema's own draft (`$schema`; Draft 2020-12 when absent)."""
    return jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)


def schema_validator(schema: Any) -> jsonschema.protocols.Validator:
    """A validator for the schema's own draft (default 2020-12) with format assertions on."""
    cls = validator_class(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def json_errors(validator: jsonschema.protocols.Validator, text: str) -> list[dict[str, str]]:
    """Every way `text` fails the schema (at most MAX_ERRORS), as pointer/keyword/message."""
    value, problem = parse_json(text)
    if problem:
        return [{"pointer": "", "keyword": "json", "message": problem}]
    found = []
    for error in validator.iter_errors(value):
        found.append(
            {
                "pointer": "".join(f"/{part}" for part in error.absolute_path),
                "keyword": str(error.validator),
                "message": error.message[:300],
            }
        )
        if len(found) >= MAX_ERRORS:
            break
    return found


def verdict(
    *,
    kind: str,
    errors: list[dict[str, str]] | None,
    finish_reason: str | None,
    reason: str = "unchecked",
    **extra: Any,
) -> dict[str, Any]:
    """The `structured_output` object attached to a finished choice.

    Args:
        kind: the request's constraint kind.
        errors: validation errors, or None when the output could not be checked.
        finish_reason: the engine's finish reason.
        reason: why the output could not be checked (only used when `errors` is None).
        extra: further fields (backend, strict, unenforced).

    Returns:
        {"kind", "checked", "valid", "errors", "finish_reason", ...}, plus "reason" when not
        checked; `finish_reason` is what the gateway reports for the choice (an unchecked
        output keeps the engine's).
    """
    valid = None if errors is None else not errors
    reported = finish_reason
    if finish_reason == "stop" and valid is False:
        reported = VIOLATION
    result = {
        "kind": kind,
        "checked": errors is not None,
        "valid": valid,
        "errors": errors or [],
        "finish_reason": reported,
        **extra,
    }
    if errors is None:
        result["reason"] = reason
    return result
