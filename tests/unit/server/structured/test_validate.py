"""Server-side verdicts: formats, truncation, finish_reason policy."""

from __future__ import annotations

from server.structured import StructuredPlan
from server.structured.regex_safety import nested_quantifier
from server.structured.walk import depth, resolve_pointer, subschemas


def plan(schema: object, strict: bool = True) -> StructuredPlan:
    return StructuredPlan(kind="json_schema", strict=strict, schema=schema)


def test_formats_are_asserted() -> None:
    p = plan(
        {"type": "object", "properties": {"t": {"format": "date-time"}, "u": {"format": "uri"}}}
    )
    assert p.check('{"t":"2024-01-02T03:04:05Z","u":"https://x.org/a"}', "stop")["valid"]
    bad = p.check('{"t":"yesterday","u":"not a uri"}', "stop")
    assert not bad["valid"]
    assert {e["pointer"] for e in bad["errors"]} == {"/t", "/u"}
    assert bad["finish_reason"] == "schema_violation"


def test_truncation_stays_length() -> None:
    verdict = plan({"type": "object"}).check('{"a": [1, 2', "length")
    assert verdict["valid"] is False and verdict["finish_reason"] == "length"


def test_stop_valid_stays_stop() -> None:
    verdict = plan({"type": "integer", "minimum": 3}).check("7", "stop")
    assert verdict == {**verdict, "valid": True, "checked": True, "finish_reason": "stop"}


def test_nan_is_not_json() -> None:
    assert plan({"type": "number"}).check("NaN", "stop")["valid"] is False


def test_unchecked_kind_keeps_stop() -> None:
    verdict = StructuredPlan(kind="structural_tag").check("anything", "stop")
    assert verdict["checked"] is False and verdict["finish_reason"] == "stop"


def test_walk_sees_defs_and_items() -> None:
    schema = {"$defs": {"a": {"type": "string"}}, "items": [{"not": {}}], "anyOf": [{}]}
    pointers = {p for p, _ in subschemas(schema)}
    assert {"", "/$defs/a", "/items/0", "/items/0/not", "/anyOf/0"} <= pointers
    assert resolve_pointer({"a~b": {"c/d": 1}}, "/a~0b/c~1d") == 1
    assert depth([[[[]]]], 100) == 4


def test_nested_quantifier_detection() -> None:
    assert nested_quantifier("(a+)+")
    assert nested_quantifier(r"^([a-z]+\.)*[a-z]+$") is None
    assert nested_quantifier(r"^\d{3}-\d{4}$") is None


def test_gateway_side_never_imports_torch() -> None:
    import subprocess
    import sys

    code = (
        "import sys, server.structured, grammar.llg, server.structured.compiler;"
        "assert not {'torch', 'vllm', 'xgrammar'} & set(sys.modules), sorted(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_unchecked_verdict_says_why_and_keeps_finish_reason() -> None:
    from server.structured.validate import verdict

    result = verdict(kind="grammar", errors=None, finish_reason="stop", reason="unchecked: x")
    assert result["checked"] is False and result["valid"] is None
    assert result["finish_reason"] == "stop" and result["reason"] == "unchecked: x"
    assert "reason" not in verdict(kind="grammar", errors=[], finish_reason="stop")
