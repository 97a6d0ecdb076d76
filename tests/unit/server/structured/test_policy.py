"""Schema policy: what is refused (400), what is weakened and reported, what is rewritten."""

from __future__ import annotations

import json
from typing import Any

import pytest

from server.errors import InvalidRequest
from server.structured import StructuredService, plan_request


def schema_body(schema: Any, *, strict: bool = False) -> dict[str, Any]:
    return {
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "t", "schema": schema, "strict": strict},
        }
    }


def refused(service: StructuredService, body: dict[str, Any]) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as info:
        service.plan(body)
    return info.value


def test_no_structured_output_is_no_plan(service: StructuredService) -> None:
    assert service.plan({"messages": []}) is None
    assert service.plan({"response_format": {"type": "text"}}) is None


def test_strict_unsupported_keywords_listed_with_pointers(service: StructuredService) -> None:
    schema = {
        "type": "object",
        "properties": {"tags": {"type": "array", "uniqueItems": True}},
        "not": {"pattern": "^x"},  # no positive form: stays refused
    }
    err = refused(service, schema_body(schema, strict=True))
    assert err.param == "response_format.json_schema.schema"
    assert err.code == "unsupported_schema_keywords"
    assert "uniqueItems at /properties/tags/uniqueItems" in err.message
    assert "not at /not" in err.message


def test_non_strict_strips_and_reports(service: StructuredService) -> None:
    body = schema_body({"type": "array", "items": {"type": "integer"}, "uniqueItems": True})
    plan = service.plan(body)
    assert plan is not None and not plan.strict
    assert [(u["keyword"], u["pointer"]) for u in plan.unenforced] == [
        ("uniqueItems", "/uniqueItems")
    ]
    forwarded = body["response_format"]["json_schema"]["schema"]
    assert "uniqueItems" not in forwarded
    assert forwarded["x-guidance"]["whitespace_flexible"] is False
    verdict = plan.check("[1,1]", "stop")
    assert verdict["valid"] is False
    assert verdict["finish_reason"] == "schema_violation"
    assert verdict["unenforced"][0]["keyword"] == "uniqueItems"


def test_strict_one_of_overlapping_refused(service: StructuredService) -> None:
    schema = {"oneOf": [{"type": "integer"}, {"type": "number"}]}
    err = refused(service, schema_body(schema, strict=True))
    assert "oneOf at /oneOf" in err.message


def test_strict_enforced_keywords_accepted(service: StructuredService) -> None:
    schema = {
        "$defs": {"name": {"type": "string", "pattern": "^[a-z]+$", "minLength": 3}},
        "type": "object",
        "properties": {
            "name": {"$ref": "#/$defs/name"},
            "n": {"type": "integer", "multipleOf": 3},
            "when": {"type": "string", "format": "date-time"},
        },
        "patternProperties": {"^x_": {"type": "boolean"}},
        "required": ["name"],
    }
    plan = service.plan(schema_body(schema, strict=True))
    assert plan is not None and plan.strict and plan.unenforced == []


@pytest.mark.parametrize(
    ("schema", "needle"),
    [
        ({"type": "strin"}, "invalid schema at /type"),
        ({"$ref": "https://example.com/s.json"}, "remote $ref"),
        ({"properties": {"a": {"$ref": "#/$defs/missing"}}}, "/properties/a/$ref"),
        ({"$ref": "#nowhere"}, "names nothing in the document"),
        ({"type": "string", "pattern": "("}, "/pattern"),
        ({"type": "string", "format": "iri"}, "format at /format"),
    ],
)
def test_invalid_schemas_name_the_pointer(
    service: StructuredService, schema: Any, needle: str
) -> None:
    assert needle in refused(service, schema_body(schema, strict=True)).message


def nested(depth: int) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "integer"}
    for _ in range(depth):
        schema = {"type": "object", "properties": {"a": schema}}
    return schema


@pytest.mark.parametrize(
    "schema",
    [
        nested(500),
        {"enum": [f"v{i}" for i in range(20_000)]},
        {"type": "string", "pattern": "^(a+)+$"},
        {"type": "string", "pattern": r"^(\w*\s?)*$"},
        {"type": "object", "patternProperties": {"^(x|y+)*$": {}}},
    ],
    ids=["deep", "huge-enum", "nested-plus", "nested-star", "pattern-properties"],
)
def test_adversarial_schemas_too_complex(service: StructuredService, schema: Any) -> None:
    err = refused(service, schema_body(schema))
    assert err.code == "schema_too_complex"
    assert err.message.startswith("schema too complex")


def test_json_object_rewritten_to_compact_schema(service: StructuredService) -> None:
    body: dict[str, Any] = {"response_format": {"type": "json_object"}}
    plan = service.plan(body)
    assert plan is not None and plan.kind == "json_object"
    sent = body["response_format"]
    assert sent["type"] == "json_schema"
    assert sent["json_schema"]["schema"]["type"] == "object"
    assert plan.check('{"a":1}', "stop")["valid"] is True
    assert plan.check("[1]", "stop")["finish_reason"] == "schema_violation"


def test_both_surfaces_refused(service: StructuredService) -> None:
    body = {"response_format": {"type": "json_object"}, "structured_outputs": {"regex": "a"}}
    assert refused(service, body).param == "structured_outputs"


def test_structured_outputs_needs_one_kind(service: StructuredService) -> None:
    err = refused(service, {"structured_outputs": {"regex": "a", "choice": ["a"]}})
    assert "exactly one" in err.message


def test_regex_choice_grammar(service: StructuredService) -> None:
    plan = service.plan({"structured_outputs": {"regex": r"[a-z]{2,4}-\d+"}})
    assert plan is not None
    assert plan.check("ab-12", "stop")["valid"] is True
    assert plan.check("a-12", "stop")["finish_reason"] == "schema_violation"
    plan = service.plan({"structured_outputs": {"choice": ["yes", "no"]}})
    assert plan is not None and plan.check("no", "stop")["valid"] is True
    plan = service.plan({"structured_outputs": {"grammar": 'start: "on" | "off"'}})
    assert plan is not None and plan.check("off", "stop")["valid"] is True
    assert plan.check("of", "length")["finish_reason"] == "length"


def test_bad_grammar_and_regex_refused(service: StructuredService) -> None:
    assert (
        "invalid grammar"
        in refused(service, {"structured_outputs": {"grammar": "start: ("}}).message
    )
    assert refused(service, {"structured_outputs": {"regex": "(a*)*"}}).code == "schema_too_complex"


def test_structured_outputs_json_string(service: StructuredService) -> None:
    body: dict[str, Any] = {"structured_outputs": {"json": '{"type": "integer"}'}}
    plan = service.plan(body)
    assert plan is not None and plan.kind == "json_schema"
    assert body["structured_outputs"]["json"]["type"] == "integer"


def test_compile_cache_hits(service: StructuredService) -> None:
    schema = {"type": "object", "properties": {"cache_probe": {"type": "integer"}}}
    body = schema_body(schema, strict=True)
    service.plan(body)
    forwarded = body["response_format"]["json_schema"]["schema"]
    assert forwarded["additionalProperties"] is False
    verdict = service.checker.compile("json", forwarded)
    assert verdict.cached


def test_plan_without_worker_still_checks_schema() -> None:
    from server.structured import plan_request

    with pytest.raises(InvalidRequest):
        plan_request(schema_body({"type": "array", "uniqueItems": True}, strict=True))


def test_objects_closed_in_grammar_not_in_validation(service: StructuredService) -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    body = schema_body(schema, strict=True)
    plan = service.plan(body)
    assert plan is not None
    assert body["response_format"]["json_schema"]["schema"]["additionalProperties"] is False
    assert plan.check('{"a":1,"b":2}', "stop")["valid"] is True  # client's schema allows b
    composed = {"allOf": [{"properties": {"a": {}}}, {"properties": {"b": {}}}]}
    body = schema_body(composed, strict=True)
    service.plan(body)
    assert (
        "additionalProperties" not in body["response_format"]["json_schema"]["schema"]["allOf"][0]
    )


def test_compile_deadline_is_400_and_worker_recovers() -> None:
    from server.structured import StructuredLimits

    slow = StructuredService(StructuredLimits(compile_timeout_s=1e-6))
    try:
        big = {"enum": [f"value number {i} of a long list" for i in range(4000)]}
        err = refused(slow, schema_body(big))
        assert err.code == "schema_too_complex" and "longer than" in err.message
        slow.checker._timeout_s = 30.0  # the killed worker is replaced on the next call
        assert slow.plan(schema_body({"type": "integer"})) is not None
    finally:
        slow.close()


def test_a_failing_rewrite_step_falls_back_and_keeps_exact_formats(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from server.structured import rewrites

    def broken(schema: object) -> object:
        raise TypeError("bug in a rewrite")

    monkeypatch.setattr(rewrites, "STEPS", (*rewrites.STEPS, broken))
    schema = {"type": "string", "format": "date"}
    body = {"response_format": {"type": "json_schema", "json_schema": {"schema": schema}}}
    body["response_format"]["json_schema"]["strict"] = True
    plan = plan_request(body)
    assert plan is not None and plan.strict
    forwarded = body["response_format"]["json_schema"]["schema"]
    assert "pattern" in json.dumps(forwarded)  # the exact date pattern, not the backend's format


def test_a_subschema_slot_holding_a_list_is_a_400_not_a_crash() -> None:
    # JSONSchemaBench's JsonSchemaStore/tmlanguage.json crashed the reference crawl this way
    schema = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "properties": {"x": {"additionalItems": [{}]}},
    }
    body = {"response_format": {"type": "json_schema", "json_schema": {"schema": schema}}}
    try:
        plan_request(body)
    except InvalidRequest as exc:
        assert exc.status_code == 400


def test_choice_lists_stop_where_llguidance_parses_them(service: StructuredService) -> None:
    """2,000 choices take the grammar path; 2,001 (the engine's matcher fails above 2,000 with a
    500) are refused here with a pointer to choice sets, unless a choice-set service takes them
    first (tests/unit/server/test_choice_sets_gateway.py)."""
    options = [f"option {i}" for i in range(2001)]
    plan = service.plan({"structured_outputs": {"choice": options[:2000]}})
    assert plan is not None and plan.check("option 1999", "stop")["valid"] is True
    err = refused(service, {"structured_outputs": {"choice": options}})
    assert err.code == "schema_too_complex" and "choice set" in err.message
