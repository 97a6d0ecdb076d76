"""Check a client's JSON Schema before anything is compiled: limits, metaschema, `$ref`s, regexes.

Every refusal is an `InvalidRequest` whose message names the JSON pointer that is at fault.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import jsonschema
from jsonschema.exceptions import SchemaError

from server.errors import InvalidRequest
from server.structured.refs import check_refs
from server.structured.regex_safety import expanded_size, nested_quantifier
from server.structured.walk import depth, join, subschemas

GUIDANCE_MAX_CHOICES = 2000
"""llguidance parses a `choice` list as one grammar rule whose alternatives its Earley parser
holds in one row: above 2,000 the matcher fails at the first token and vLLM answers 500 (measured:
2,100 and 3,000 choices), although the grammar compiles. JSON `enum`s are lexed, not parsed, and
work to `max_enum_values`. Longer `choice` lists go to a choice set (docs/choice_sets.md)."""


@dataclass(frozen=True)
class StructuredLimits:
    """Bounds on what a structured-output request may ask the gateway and engine to compile."""

    max_schema_bytes: int = 256 * 1024
    """Largest schema (compact JSON) accepted."""
    max_depth: int = 64
    """Deepest nesting of the schema document."""
    max_enum_values: int = 4096
    """Longest `enum` list (and, up to `GUIDANCE_MAX_CHOICES`, longest `choice` list)."""
    max_pattern_chars: int = 2048
    """Longest regular expression (`pattern`, `patternProperties` key, `regex`)."""
    max_regex_expansion: int = 100_000
    """Largest regex once its counted repeats are written out (`(a{1000}){1000}` is 10^6): the
    backend's lexer builds states in proportion and fails mid-generation beyond its limits."""
    compile_timeout_s: float = 5.0
    """Longest the backend may take to compile one grammar (400 "schema too complex" above)."""
    verdict_timeout_s: float = 5.0
    """Longest one finished output's check may take (regex/grammar matching in a worker process
    that is killed past it, JSON Schema validation in a thread); past it the verdict says
    `checked: false, valid: null` and the engine's finish_reason stands."""
    verdict_workers: int = 2
    """How many verdict worker processes match regex/grammar outputs at once."""
    cache_size: int = 1024
    """How many compile verdicts are kept, keyed by the grammar's hash."""
    close_objects: bool = True
    """Generate no properties a schema does not name: objects with `properties` and no
    `additionalProperties`/`patternProperties` get `additionalProperties: false` in the grammar,
    unless a composition (`$ref` with siblings, `allOf`, `anyOf` beside properties, ...) adds
    properties (`server/structured/closing.py`). Outputs stay valid; small models stop inventing
    keys until max_tokens."""
    max_blank_run: int = 32
    """Most consecutive blanks (space, C0 controls) the engine may generate inside a string
    whose schema has no pattern/format/enum/const; 0: unbounded (`server/structured/bounds.py`)."""
    safe_integers: bool = True
    """Generate integers without a schema bound only within ±(2**53 - 1) (RFC 8259 §6)."""

    @property
    def max_choices(self) -> int:
        """Longest `choice` list the grammar path takes (longer: a choice set, or 400)."""
        return min(self.max_enum_values, GUIDANCE_MAX_CHOICES)


def too_complex(message: str, *, param: str) -> InvalidRequest:
    """The 400 every limit breach raises."""
    return InvalidRequest(f"schema too complex: {message}", param=param, code="schema_too_complex")


def check_schema(schema: Any, limits: StructuredLimits, *, param: str) -> None:
    """Refuse a schema that is too big, invalid for its draft, refers outside itself or has a
    catastrophic regex.

    Args:
        schema: the client's schema document.
        limits: the configured bounds.
        param: the request field holding the schema (for the error's `param`).

    Raises:
        InvalidRequest: naming the JSON pointer at fault.
    """
    if not isinstance(schema, (dict, bool)):
        raise InvalidRequest("the schema must be a JSON object or boolean", param=param)
    deepest = depth(schema, limits.max_depth)
    if deepest > limits.max_depth:
        raise too_complex(f"nested deeper than {limits.max_depth} levels", param=param)
    size = len(json.dumps(schema, separators=(",", ":")))
    if size > limits.max_schema_bytes:
        raise too_complex(f"{size} bytes, limit {limits.max_schema_bytes}", param=param)
    _check_metaschema(schema, param=param)
    if isinstance(schema, dict):
        _check_limits(schema, limits, param=param)
        check_refs(schema, param=param)


def _check_metaschema(schema: Any, *, param: str) -> None:
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    try:
        cls.check_schema(schema)
    except SchemaError as exc:
        pointer = join("", *exc.path)
        raise InvalidRequest(
            f"invalid schema at {pointer or '/'}: {exc.message}", param=param
        ) from None
    except RecursionError:
        raise too_complex("too deeply nested to check", param=param) from None


def _check_limits(schema: dict[str, Any], limits: StructuredLimits, *, param: str) -> None:
    for where, node in subschemas(schema):
        enum = node.get("enum")
        if isinstance(enum, list) and len(enum) > limits.max_enum_values:
            raise too_complex(
                f"enum at {join(where, 'enum')} has {len(enum)} values, "
                f"limit {limits.max_enum_values}",
                param=param,
            )
        patterns = [(join(where, "pattern"), node.get("pattern"))]
        if isinstance(node.get("patternProperties"), dict):
            patterns += [
                (join(where, "patternProperties", key), key) for key in node["patternProperties"]
            ]
        for pointer, pattern in patterns:
            if isinstance(pattern, str):
                check_regex(pattern, limits, pointer=pointer, param=param)


def check_regex(pattern: str, limits: StructuredLimits, *, pointer: str, param: str) -> None:
    """Refuse an over-long regex or one with nested unbounded quantifiers (catastrophic
    backtracking in any backtracking validator).

    Raises:
        InvalidRequest: naming `pointer`.
    """
    if len(pattern) > limits.max_pattern_chars:
        raise too_complex(
            f"regex at {pointer} has {len(pattern)} characters, limit {limits.max_pattern_chars}",
            param=param,
        )
    try:
        nested = nested_quantifier(pattern)
    except re.error as exc:
        raise InvalidRequest(f"invalid regex at {pointer}: {exc}", param=param) from None
    if nested:
        raise too_complex(
            f"regex at {pointer} nests unbounded quantifiers ({nested}): catastrophic backtracking",
            param=param,
        )
    size = expanded_size(pattern, cap=limits.max_regex_expansion + 1)
    if size > limits.max_regex_expansion:
        raise too_complex(
            f"regex at {pointer} expands to more than {limits.max_regex_expansion} elements once "
            "its counted repeats are written out",
            param=param,
        )
