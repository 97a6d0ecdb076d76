"""Pointer-preserving edit helpers of the rewrite steps (server/structured/rewrites/common.py)."""

from __future__ import annotations

from typing import Any

from server.structured.rewrites import common


def test_conjoin_merges_standalone_keywords_else_appends_to_all_of() -> None:
    node: dict[str, Any] = {"properties": {"a": {}}, "allOf": [{"type": "object"}]}
    common.conjoin(node, {"anyOf": [{"required": ["a"]}, {"type": "null"}]})
    common.conjoin(node, {"anyOf": [{"const": 1}]})  # anyOf taken: goes to allOf
    common.conjoin(node, {"properties": {"b": False}})  # depends on siblings: goes to allOf
    common.conjoin(node, True)
    assert node["anyOf"] == [{"required": ["a"]}, {"type": "null"}]
    assert node["allOf"] == [
        {"type": "object"},
        {"anyOf": [{"const": 1}]},
        {"properties": {"b": False}},
    ]


def test_boolean_algebra() -> None:
    assert common.disjunction([False, {"type": "null"}, {"type": "null"}]) == {"type": "null"}
    assert common.disjunction([False]) is False
    assert common.disjunction([{"const": 1}, True]) is True
    assert common.conjunction([True, {"const": 1}]) == {"const": 1}
    assert common.conjunction([{"const": 1}, False]) is False
    assert common.conjunction([]) is True


def test_detach_refuses_pointer_refs_and_keeps_ids_reachable() -> None:
    doc: dict[str, Any] = {"not": {"$id": "x.json"}, "if": {}, "$ref": "#/if"}
    fragments = common.pointer_refs(doc)
    assert fragments == ["/if"]
    assert not common.detachable(doc, "if", fragments)
    assert common.detachable(doc, "not", fragments)
    common.detach(doc, "not")
    assert doc["$defs"] == {"x-structserve-moved-not-0": {"$id": "x.json"}}


def test_children_come_before_their_parents() -> None:
    doc = {"not": {"not": {"type": "string"}}}
    assert common.children_first(doc) == [{"type": "string"}, doc["not"], doc]


def test_draft_keywords_follow_the_schema_draft() -> None:
    assert "dependentRequired" in common.draft_keywords({})
    draft7 = common.draft_keywords({"$schema": "http://json-schema.org/draft-07/schema#"})
    assert "dependencies" in draft7 and "dependentRequired" not in draft7


def test_documents_with_unevaluated_keywords_are_left_alone() -> None:
    # the branches a rewrite adds would evaluate properties the replaced keyword did not
    from server.structured.rewrites import conditionals, dependencies, negation

    schema = {"unevaluatedProperties": False, "not": {"required": ["a"]},
              "if": {"required": ["a"]}, "then": {"required": ["b"]},
              "dependentRequired": {"a": ["b"]}}  # fmt: skip
    for step in (dependencies.apply, conditionals.apply, negation.apply):
        assert step(dict(schema)) == schema
