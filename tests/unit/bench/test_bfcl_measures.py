"""The call measures (schema validity, parse failure, no call) and the summary table."""

from __future__ import annotations

import json
from typing import Any

from bench.bfcl_check import Call, Checker, Verdict
from bench.bfcl_data import Entry
from bench.bfcl_report import markdown, measures, table
from bench.bfcl_run import Outcome, RunSettings, call_schema_valid, request_body, score
from bench.bfcl_tools import to_tools
from tests.unit.bench.bfcl_fixtures import AREA

TOOLS = to_tools([AREA])
ENTRY = Entry("simple_python_0", "simple_python", [{"role": "user", "content": "q"}], [AREA], [])


def test_schema_validity_uses_the_converted_schema() -> None:
    assert call_schema_valid(Call("geometry_area", '{"base": 1, "height": 2.5}'), TOOLS)
    assert call_schema_valid(Call("geometry_area", '{"base": 1, "height": 2}'), TOOLS)  # number
    assert not call_schema_valid(Call("geometry_area", '{"base": 1.5, "height": 2}'), TOOLS)
    assert not call_schema_valid(Call("geometry_area", '{"base": 1}'), TOOLS)  # required
    assert not call_schema_valid(Call("geometry_area", '{"base": "1", "height": 2}'), TOOLS)
    assert not call_schema_valid(Call("geometry.area", '{"base": 1, "height": 2}'), TOOLS)
    assert not call_schema_valid(Call("geometry_area", '{"base": 1,'), TOOLS)
    assert not call_schema_valid(Call("geometry_area", "[1, 2]"), TOOLS)


class _Fixed:
    def __init__(self, valid: bool) -> None:
        self.valid = valid

    def __call__(self, *args: Any) -> dict[str, Any]:
        return {"valid": self.valid, "error": [] if self.valid else ["no"], "error_type": "x"}


def _scored(calls: list[dict[str, str]], content: str | None) -> Outcome:
    outcome = Outcome(ENTRY.id, ENTRY.category, "ok", 200, 1.0, calls=calls, content=content)
    score(outcome, ENTRY, Checker(_Fixed(True), "python"))
    return outcome


def test_outcome_classification() -> None:
    good = _scored([{"name": "geometry_area", "arguments": '{"base": 1, "height": 2}'}], None)
    assert good.valid and good.calls_schema_valid == [True]
    assert not good.parse_failure and not good.no_call
    text = _scored([], "The area is 1.")
    assert text.no_call and not text.parse_failure and not text.valid  # decode fails first
    tagged = _scored([], '<tool_call>\n{"name": "geometry_area", "arguments": {"base": 1')
    assert tagged.parse_failure and not tagged.no_call
    broken = _scored([{"name": "geometry_area", "arguments": '{"base": '}], None)
    assert broken.parse_failure and broken.calls_schema_valid == [False]


def test_request_is_strict_auto_and_greedy() -> None:
    body = request_body(ENTRY, RunSettings(model="m", max_tokens=64))
    assert body["tool_choice"] == "auto" and body["temperature"] == 0.0
    assert body["max_tokens"] == 64 and body["messages"] == ENTRY.messages
    assert body["tools"][0]["function"]["strict"] is True
    json.dumps(body)  # what the client sends
    required = RunSettings(model="m", tool_choice="required")
    assert request_body(ENTRY, required)["tool_choice"] == "required"
    irrelevant = Entry("irrelevance_0", "irrelevance", ENTRY.messages, [AREA], None)
    assert request_body(irrelevant, required)["tool_choice"] == "auto"


def _outcome(category: str, **fields: Any) -> Outcome:
    return Outcome("x", category, fields.pop("status", "ok"), **fields)


def test_measures_count_each_kind() -> None:
    rows = [
        _outcome("simple", http_status=200, latency_s=1.0, valid=True, calls_schema_valid=[True]),
        _outcome("simple", http_status=200, latency_s=3.0, calls_schema_valid=[True, False]),
        _outcome("simple", http_status=200, latency_s=2.0, no_call=True),
        _outcome("simple", http_status=200, latency_s=9.0, parse_failure=True),
        _outcome("simple", status="http_error", http_status=500, latency_s=0.1),
        _outcome("simple", status="http_error", http_status=400, latency_s=0.1),
        _outcome("simple", status="connection_error", latency_s=0.1),
    ]
    m = measures(rows)
    assert m["requests"] == 7 and m["answered"] == 4
    assert m["ast_accuracy"] == round(1 / 7, 4)  # errors count as wrong
    assert m["calls"] == 3 and m["schema_valid"] == round(2 / 3, 4)
    assert m["parse_failure"] == 0.25 and m["no_call"] == 0.25
    assert (m["http_5xx"], m["http_other"], m["connection_errors"]) == (1, 1, 1)
    assert m["latency_p50_s"] == 2.5


def test_table_and_markdown() -> None:
    summary = table(
        {
            "structserve": [
                _outcome(
                    "simple", http_status=200, latency_s=1.0, valid=True, calls_schema_valid=[True]
                ),
                _outcome("irrelevance", http_status=200, latency_s=2.0, valid=True, no_call=True),
            ],
            "vllm": [_outcome("simple", status="http_error", http_status=400, latency_s=0.1)],
        }
    )
    assert list(summary["structserve"]) == ["simple", "irrelevance", "all"]
    assert summary["structserve"]["all"]["requests"] == 2
    text = markdown(summary, {"bfcl-eval": "2026.3.23"})
    assert "- bfcl-eval: 2026.3.23" in text
    lines = text.splitlines()
    assert "| simple | structserve | 1 | 100.0% | 100.0% (1) | 0.0% | 0.0% | 0 | 0 | 1.0 |" in lines
    assert "| simple | vllm | 1 | 0.0% | - | - | - | 0 | 1 | - |" in lines
    assert "| irrelevance | structserve | 1 | 100.0% | - | 0.0% | 100.0% | 0 | 0 | 2.0 |" in lines
    assert not any(line.startswith("| irrelevance | vllm") for line in lines)


def test_verdict_defaults() -> None:
    assert Verdict(True).error_type is None
