"""Generation bounds: blank runs inside strings and integer digits are bounded in the grammar the
engine compiles, never in the schema outputs are validated against."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from grammar import llg
from server.settings import Settings
from server.structured import StructuredService
from server.structured.bounds import SAFE_INTEGER, apply_bounds, blank_run_pattern
from server.structured.schema import StructuredLimits


def plan_schema(service: StructuredService, schema: Any) -> tuple[Any, dict[str, Any]]:
    """(plan, forwarded schema) for a strict json_schema request."""
    spec = {"schema": schema, "strict": True}
    body = {"response_format": {"type": "json_schema", "json_schema": spec}}
    plan = service.plan(body)
    return plan, body["response_format"]["json_schema"]["schema"]


def engine_accepts(forwarded: dict[str, Any], text: str) -> bool:
    """Whether the grammar the engine compiles from `forwarded` can generate `text`."""
    return llg.matches(llg.byte_tokenizer(), "json", forwarded, text)


def as_json_string(content: str) -> str:
    return json.dumps({"s": content}, separators=(",", ":"))


@pytest.fixture(scope="module")
def unbounded() -> Iterator[StructuredService]:
    svc = StructuredService(StructuredLimits(max_blank_run=0, safe_integers=False))
    yield svc
    svc.close()


@pytest.mark.parametrize("blank", ["\n", " ", "\t", "\x1f", "\r"])
def test_blank_runs_bounded_in_grammar_only(service: StructuredService, blank: str) -> None:
    schema = {"type": "object", "properties": {"s": {"type": "string"}}, "required": ["s"]}
    plan, forwarded = plan_schema(service, schema)
    limit = StructuredLimits().max_blank_run
    assert forwarded["properties"]["s"]["pattern"] == blank_run_pattern(limit)
    at_limit = "def f():" + blank * limit + "return 1" + blank * limit
    over = "x" + blank * (limit + 1) + "y"
    assert engine_accepts(forwarded, as_json_string(at_limit))
    assert not engine_accepts(forwarded, as_json_string(over))
    assert not engine_accepts(forwarded, as_json_string(blank * (limit + 1)))
    # the verdict still uses the client's schema: a long run is valid, just not generated
    assert plan.check(as_json_string(over), "stop")["valid"] is True


def test_blank_bound_off_and_configurable(unbounded: StructuredService) -> None:
    schema = {"type": "object", "properties": {"s": {"type": "string"}}, "required": ["s"]}
    _, forwarded = plan_schema(unbounded, schema)
    assert "pattern" not in forwarded["properties"]["s"]
    assert engine_accepts(forwarded, as_json_string("\n" * 200))
    four = StructuredService(StructuredLimits(max_blank_run=4))
    try:
        _, forwarded = plan_schema(four, schema)
    finally:
        four.close()
    assert engine_accepts(forwarded, as_json_string("a    b"))
    assert not engine_accepts(forwarded, as_json_string("a     b"))


@pytest.mark.parametrize(
    "node",
    [
        {"type": "string", "pattern": "^a+$"},
        {"type": "string", "format": "date"},
        {"type": "string", "enum": ["a", "b"]},
        {"const": "a"},
        {"type": "string", "maxLength": 8},
        {"type": "number"},
        {"type": ["integer", "number"]},
        {"type": "integer", "enum": [1, 2]},
    ],
)
def test_constrained_nodes_left_alone(node: dict[str, Any]) -> None:
    schema = {"type": "object", "properties": {"v": dict(node)}}
    assert apply_bounds(schema, max_blank_run=32, safe_integers=True) == []
    assert schema["properties"]["v"] == node


def test_string_bound_reaches_refs_unions_and_nullable() -> None:
    schema = {
        "$defs": {"name": {"type": "string", "minLength": 2}},
        "properties": {"a": {"$ref": "#/$defs/name"}, "b": {"type": ["string", "null"]}},
        "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
    }
    bounded = apply_bounds(schema, max_blank_run=32, safe_integers=True)
    assert sorted(bounded) == ["/$defs/name", "/items/anyOf/0", "/items/anyOf/1", "/properties/b"]
    assert schema["$defs"]["name"]["minLength"] == 2


def test_integers_bounded_to_safe_range(service: StructuredService) -> None:
    schema = {
        "type": "object",
        "properties": {
            "n": {"type": "integer"},
            "low": {"type": "integer", "minimum": 0},
            "opt": {"type": ["integer", "null"]},
        },
        "required": ["n"],
    }
    plan, forwarded = plan_schema(service, schema)
    props = forwarded["properties"]
    assert (props["n"]["minimum"], props["n"]["maximum"]) == (-SAFE_INTEGER, SAFE_INTEGER)
    assert (props["low"]["minimum"], props["low"]["maximum"]) == (0, SAFE_INTEGER)
    assert props["opt"]["maximum"] == SAFE_INTEGER
    assert engine_accepts(forwarded, f'{{"n":{SAFE_INTEGER}}}')
    assert engine_accepts(forwarded, f'{{"n":{-SAFE_INTEGER}}}')
    assert not engine_accepts(forwarded, f'{{"n":{SAFE_INTEGER + 1}}}')
    assert not engine_accepts(forwarded, '{"n":1' + "0" * 40 + "}")
    assert plan.check('{"n":1' + "0" * 40 + "}", "stop")["valid"] is True


def test_integer_bound_never_makes_a_schema_unsatisfiable() -> None:
    schema = {"properties": {"big": {"type": "integer", "exclusiveMinimum": 2**60}}}
    assert apply_bounds(schema, max_blank_run=32, safe_integers=True) == []
    assert schema["properties"]["big"] == {"type": "integer", "exclusiveMinimum": 2**60}


def test_settings_reach_the_service() -> None:
    settings = Settings(structured_max_blank_run=0, structured_safe_integers=False)
    svc = StructuredService.from_settings(settings)
    assert (svc.limits.max_blank_run, svc.limits.safe_integers) == (0, False)
    assert Settings().structured_max_blank_run == 32


def test_bounds_never_cost_coverage(monkeypatch: pytest.MonkeyPatch) -> None:
    """When only the bounded grammar fails to compile, the plain one is forwarded."""
    from server.structured.compiler import CompileVerdict

    svc = StructuredService()
    real = svc.checker.compile

    def compile_refusing_patterns(kind: str, spec: Any) -> Any:
        if "pattern" in json.dumps(spec):
            return CompileVerdict("pretend the backend refuses this pattern")
        return real(kind, spec)

    monkeypatch.setattr(svc.checker, "compile", compile_refusing_patterns)
    try:
        _, forwarded = plan_schema(svc, {"type": "object", "properties": {"s": {"type": "string"}}})
    finally:
        svc.close()
    assert "pattern" not in forwarded["properties"]["s"]
