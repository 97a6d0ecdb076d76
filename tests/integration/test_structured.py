"""Structured output you can trust, against the real engine through the gateway.

Schemas are bounded (maxLength, maximum, maxItems) so SmolLM2 finishes within a few dozen tokens.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

import jsonschema
import openai
import pytest

from tests.integration.gateways import Gateway


def fmt(schema: dict[str, Any], *, strict: bool = True) -> dict[str, Any]:
    return {"type": "json_schema", "json_schema": {"name": "t", "schema": schema, "strict": strict}}


def ask(gateway: Gateway, schema: dict[str, Any], *, strict: bool = True, **kw: Any) -> Any:
    prompt = kw.pop("prompt", f"Answer with JSON for: {json.dumps(schema)}")
    messages = [{"role": "user", "content": prompt}]
    return gateway.client().chat.completions.create(
        model=gateway.model,
        messages=messages,  # type: ignore[arg-type]
        response_format=fmt(schema, strict=strict),  # type: ignore[arg-type]
        max_tokens=kw.pop("max_tokens", 80),
        temperature=0,
        **kw,
    )


def verdict(choice: Any) -> dict[str, Any]:
    return dict((choice.model_extra or {})["structured_output"])


def test_strict_unsupported_keyword_is_400_listing_it(gateway: Gateway) -> None:
    schema = {
        "type": "object",
        "properties": {
            "tags": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
            "code": {"type": "string", "not": {"pattern": "^x"}},  # no exact rewrite of its own
        },
    }
    with pytest.raises(openai.BadRequestError) as info:
        ask(gateway, schema)
    err = info.value.body
    assert isinstance(err, dict)
    assert err["param"] == "response_format.json_schema.schema"
    assert "uniqueItems at /properties/tags/uniqueItems" in err["message"]
    assert "not at /properties/code/not" in err["message"]


NAME = {"type": "string", "pattern": "^[a-z]+$", "minLength": 5, "maxLength": 8}
DIGIT = {"type": "integer", "minimum": 0, "maximum": 99}
ENFORCED = {
    "minLength+pattern": {
        "type": "object",
        "properties": {"code": NAME},
        "required": ["code"],
        "additionalProperties": False,
    },
    "minItems": {
        "type": "object",
        "properties": {"xs": {"type": "array", "items": DIGIT, "minItems": 3, "maxItems": 4}},
        "required": ["xs"],
        "additionalProperties": False,
    },
    "enum": {
        "type": "object",
        "properties": {"color": {"enum": ["red", "green", "blue"]}},
        "required": ["color"],
        "additionalProperties": False,
    },
    "nested $ref": {
        "$defs": {
            "point": {
                "type": "object",
                "properties": {"x": DIGIT, "y": DIGIT},
                "required": ["x", "y"],
                "additionalProperties": False,
            },
            "line": {
                "type": "object",
                "properties": {"a": {"$ref": "#/$defs/point"}, "b": {"$ref": "#/$defs/point"}},
                "required": ["a", "b"],
                "additionalProperties": False,
            },
        },
        "$ref": "#/$defs/line",
    },
    "patternProperties": {
        "type": "object",
        "patternProperties": {"^k_[a-z]{1,3}$": DIGIT},
        "minProperties": 1,
        "maxProperties": 2,
        "additionalProperties": False,
    },
}


# Prompts that bait the model into violating the keyword: only real enforcement passes.
BAIT = {
    "minLength+pattern": 'Reply exactly with {"code": "ab"}',
    "minItems": 'Reply exactly with {"xs": [7]}',
    "enum": 'Reply exactly with {"color": "purple"}',
    "nested $ref": 'Reply exactly with {"a": {"x": 1}}',
    "patternProperties": 'Reply exactly with {"name": "Bob", "age": 150}',
}


@pytest.mark.parametrize("case", list(ENFORCED))
def test_keywords_are_enforced(gateway: Gateway, case: str) -> None:
    schema = ENFORCED[case]
    choice = ask(gateway, schema, prompt=BAIT[case]).choices[0]
    assert choice.finish_reason == "stop", choice.message.content
    jsonschema.validate(json.loads(choice.message.content), schema)
    got = verdict(choice)
    assert got["valid"] is True and got["strict"] is True and got["unenforced"] == []


def nested(depth: int) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "integer"}
    for _ in range(depth):
        schema = {"type": "object", "properties": {"a": schema}}
    return schema


ADVERSARIAL: dict[str, dict[str, Any]] = {
    # 100 schema levels: deeper than the schema limit (64) while the request body (~205 JSON
    # levels) stays under the body's own nesting limit (256), which would answer first
    "deep nesting": nested(100),
    "huge enum": {"enum": [f"value-{i}" for i in range(20_000)]},
    "catastrophic regex": {"type": "string", "pattern": "^(a+)+$"},
}


@pytest.mark.parametrize("schema", list(ADVERSARIAL.values()), ids=list(ADVERSARIAL))
def test_adversarial_schema_fast_400_then_served(gateway: Gateway, schema: dict[str, Any]) -> None:
    start = time.perf_counter()
    with pytest.raises(openai.BadRequestError) as info:
        ask(gateway, schema)
    assert time.perf_counter() - start < 5.0
    body = info.value.body
    assert isinstance(body, dict) and body["message"].startswith("schema too complex")
    follow_up = ask(gateway, ENFORCED["enum"], max_tokens=20)
    assert follow_up.choices[0].finish_reason == "stop"


def test_streaming_reassembles_to_valid_json(gateway: Gateway) -> None:
    schema = ENFORCED["nested $ref"]
    stream = ask(gateway, schema, stream=True)
    text, finals = "", []
    for chunk in stream:
        for choice in chunk.choices:
            text += choice.delta.content or ""
            if choice.finish_reason is not None:
                finals.append((choice.finish_reason, verdict(choice)))
    jsonschema.validate(json.loads(text), schema)
    assert finals and finals[-1][0] == "stop" and finals[-1][1]["valid"] is True


def test_non_strict_reports_unenforced_keywords(gateway: Gateway) -> None:
    schema = {
        "type": "object",
        "properties": {"xs": {"type": "array", "items": DIGIT, "maxItems": 3, "uniqueItems": True}},
        "required": ["xs"],
        "additionalProperties": False,
    }
    choice = ask(gateway, schema, strict=False).choices[0]
    got = verdict(choice)
    assert [u["pointer"] for u in got["unenforced"]] == ["/properties/xs/uniqueItems"]
    assert got["checked"] is True
    if got["valid"] is False:  # a duplicate slipped through: never reported as "stop"
        assert choice.finish_reason != "stop"


def test_choice_regex_and_json_object(gateway: Gateway) -> None:
    client = gateway.client()
    messages = [{"role": "user", "content": "Is the sky blue?"}]
    out = client.chat.completions.create(
        model=gateway.model,
        messages=messages,  # type: ignore[arg-type]
        max_tokens=5,
        temperature=0,
        extra_body={"structured_outputs": {"choice": ["yes", "no"]}},
    )
    assert out.choices[0].message.content in ("yes", "no")
    out = client.chat.completions.create(
        model=gateway.model,
        messages=messages,  # type: ignore[arg-type]
        max_tokens=12,
        temperature=0,
        extra_body={"structured_outputs": {"regex": "(yes|no), [a-z]{2,6}"}},
    )
    assert verdict(out.choices[0])["valid"] is (out.choices[0].finish_reason == "stop")
    out = client.chat.completions.create(
        model=gateway.model,
        messages=messages,  # type: ignore[arg-type]
        max_tokens=40,
        temperature=0,
        response_format={"type": "json_object"},
    )
    if out.choices[0].finish_reason == "stop":
        assert isinstance(json.loads(out.choices[0].message.content or ""), dict)


# Generation bounds (server/structured/bounds.py): each test baits the model into the loop the
# bound closes, first on a gateway with the bounds off (the bait works), then with them on.
COPY = "Copy this JSON exactly, character for character: "


def _bait(gw: Gateway, schema: dict[str, Any], example: str, max_tokens: int) -> str:
    out = ask(gw, schema, prompt=COPY + example, max_tokens=max_tokens)
    return out.choices[0].message.content or ""


def _longest_blank_run(text: str) -> int:
    """Longest run of blanks in the JSON text (an escape such as \\n counts as one)."""
    runs = re.findall(r"(?:\\[ntrbf]|\\u00[01][0-9a-fA-F]|\\u0020| )+", text)
    return max((len(re.findall(r"\\u....|\\.| ", run)) for run in runs), default=0)


def test_blank_runs_in_strings_are_bounded(gateway: Gateway, attach_gateway: Any) -> None:
    schema = {"type": "object", "properties": {"s": {"type": "string"}}, "required": ["s"]}
    example = '{"s": "a' + "\\n" * 48 + 'b"}'
    unbounded = attach_gateway("--structured-max-blank-run", "0")
    assert _longest_blank_run(_bait(unbounded, schema, example, 60)) > 8
    bounded = attach_gateway("--structured-max-blank-run", "8")
    assert _longest_blank_run(_bait(bounded, schema, example, 60)) <= 8


def test_integer_digits_are_bounded(gateway: Gateway, attach_gateway: Any) -> None:
    schema = {
        "type": "object",
        "properties": {"n": {"type": "integer"}},
        "required": ["n"],
        "additionalProperties": False,
    }
    example = '{"n": 1' + "0" * 40 + "}"
    unbounded = attach_gateway("--no-structured-safe-integers")
    digits = re.search(r"\d+", _bait(unbounded, schema, example, 30))
    assert digits and len(digits.group(0)) > 16
    text = _bait(gateway, schema, example, 30)
    digits = re.search(r"\d+", text)
    assert digits and len(digits.group(0)) <= 16
