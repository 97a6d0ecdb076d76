"""Closing objects in the forwarded grammar never costs a schema (issue 15, hole 2)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from server.cli_args import build_parser
from server.errors import InvalidRequest
from server.settings import Settings
from server.structured import StructuredService
from server.structured.closing import close_objects
from server.structured.compiler import CompileVerdict
from tests.unit.server.structured.test_bounds import engine_accepts, plan_schema

BASE = {"type": "object", "properties": {"id": {"type": "integer"}}, "required": ["id"]}


def test_ref_to_required_base_plus_local_properties_is_accepted(
    service: StructuredService,
) -> None:
    schema = {
        "$defs": {"Base": BASE},
        "$ref": "#/$defs/Base",
        "properties": {"name": {"type": "string"}},
        "required": ["name"],
    }
    plan, forwarded = plan_schema(service, schema)
    assert plan is not None
    assert engine_accepts(forwarded, '{"id":1,"name":"a"}')
    assert "additionalProperties" not in forwarded["$defs"]["Base"]


def test_properties_plus_any_of_requiring_others_is_accepted(service: StructuredService) -> None:
    schema = {
        "type": "object",
        "properties": {"a": {"type": "string"}},
        "anyOf": [{"required": ["b"]}, {"required": ["c"]}],
    }
    _, forwarded = plan_schema(service, schema)
    assert engine_accepts(forwarded, '{"a":"x","b":1}')


def test_no_branch_silently_lost(service: StructuredService) -> None:
    """A branch that adds a property stays generable (closing the root killed it)."""
    schema = {
        "type": "object",
        "properties": {"a": {"type": "string"}},
        "anyOf": [
            {"properties": {"b": {"type": "integer"}}, "required": ["b"]},
            {"required": ["a"]},
        ],
    }
    _, forwarded = plan_schema(service, schema)
    assert engine_accepts(forwarded, '{"b":1}')


def test_all_of_of_refs_stays_open_transitively(service: StructuredService) -> None:
    schema = {
        "$defs": {"Base": BASE, "Mid": {"$ref": "#/$defs/Base"}},
        "allOf": [{"$ref": "#/$defs/Mid"}, {"properties": {"x": {"type": "boolean"}}}],
    }
    _, forwarded = plan_schema(service, schema)
    assert engine_accepts(forwarded, '{"id":1,"x":true}')


@pytest.mark.parametrize(
    "composition",
    [
        {"dependentSchemas": {"a": {"properties": {"b": {}}, "required": ["b"]}}},
        {"then": {"properties": {"b": {}}, "required": ["b"]}, "if": {"required": ["a"]}},
        {"oneOf": [{"properties": {"b": {}}, "required": ["b"]}]},
    ],
)
def test_merged_subschemas_keep_the_node_open(composition: dict[str, Any]) -> None:
    schema = {"type": "object", "properties": {"a": {}}, **composition}
    assert close_objects(schema) == []


def test_pure_unions_and_annotated_refs_still_close(service: StructuredService) -> None:
    """What pydantic writes for a union or a described field: each branch alone is the object."""
    schema = {
        "$defs": {"A": {"properties": {"a": {"type": "integer"}}}, "B": BASE},
        "type": "object",
        "properties": {
            "u": {"anyOf": [{"$ref": "#/$defs/A"}, {"$ref": "#/$defs/B"}, {"type": "null"}]},
            "v": {"$ref": "#/$defs/A", "description": "an A", "default": None},
        },
    }
    _, forwarded = plan_schema(service, schema)
    assert forwarded["additionalProperties"] is False
    assert forwarded["$defs"]["A"]["additionalProperties"] is False
    assert forwarded["$defs"]["B"]["additionalProperties"] is False
    assert not engine_accepts(forwarded, '{"u":{"id":1,"z":2}}')
    assert engine_accepts(forwarded, '{"u":{"id":1},"v":{"a":2}}')


def test_one_of_branches_stay_open(service: StructuredService) -> None:
    """Closed, these branches look disjoint; open (the client's), {"x": 1} matches both."""
    x = {"type": "object", "properties": {"x": {"type": "integer"}}, "required": ["x"]}
    schema = {"$defs": {"X": x}, "oneOf": [{"$ref": "#/$defs/X"}, {"properties": {"y": {}}}]}
    assert close_objects(copy.deepcopy(schema)) == []
    with pytest.raises(InvalidRequest) as info:  # the backend cannot prove the open ones disjoint
        plan_schema(service, schema)
    assert "oneOf at /oneOf" in info.value.message


def test_unfollowable_ref_in_a_composition_closes_nothing() -> None:
    schema = {"$ref": "#anchor", "properties": {"a": {}}, "$defs": {"X": {"properties": {"x": {}}}}}
    assert close_objects(schema) == []
    assert "additionalProperties" not in schema


def test_closing_never_costs_a_schema(
    service: StructuredService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the closed grammar is refused, the open one is forwarded (safety net)."""
    real, refusal = service.checker.compile, CompileVerdict("pretend closing made it unsatisfiable")
    closed = '"additionalProperties": false'
    refuse_closed = lambda kind, spec: refusal if closed in json.dumps(spec) else real(kind, spec)  # noqa: E731
    monkeypatch.setattr(service.checker, "compile", refuse_closed)
    _, forwarded = plan_schema(
        service, {"type": "object", "properties": {"a": {"type": "integer"}}}
    )
    assert "additionalProperties" not in forwarded
    assert forwarded["properties"]["a"]["maximum"] > 0  # the other bounds are kept


def test_setting_and_flag_reach_the_service() -> None:
    assert Settings().structured_close_objects is True
    args = build_parser().parse_args(["--no-structured-close-objects"])
    assert args.structured_close_objects is False
    svc = StructuredService.from_settings(Settings(structured_close_objects=False))
    try:
        _, forwarded = plan_schema(svc, {"type": "object", "properties": {"a": {}}})
    finally:
        svc.close()
    assert svc.limits.close_objects is False
    assert "additionalProperties" not in forwarded
