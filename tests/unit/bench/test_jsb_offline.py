"""`structserve bench jsb-offline`: coverage and valid instances lost to rewrites, offline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema

from bench import cli
from bench.grammar_backends import LLGuidance, Tokens
from bench.jsb_data import Case
from bench.jsb_offline import check_case, collect_instances
from bench.schema_suite import UNBOUNDED
from server.structured import StructuredService

SCHEMA = {
    "type": "object",
    "properties": {
        "a": {"type": "integer", "minimum": 0, "maximum": 50},
        "b": {"enum": ["x", "y"]},
    },
    "required": ["a"],
}


class Narrowing:
    """A policy whose rewrite loses instances: it forwards `a == 0` only."""

    def plan(self, body: dict[str, Any]) -> None:
        spec = body["response_format"]["json_schema"]
        spec["schema"] = {"type": "object", "properties": {"a": {"const": 0}}, "required": ["a"]}


def test_instances_are_valid_and_compact() -> None:
    texts = collect_instances(SCHEMA, LLGuidance(Tokens.bytes()), 6, seed=0)
    assert len(texts) >= 3
    for text in texts:
        jsonschema.validate(json.loads(text), SCHEMA)
        assert text == json.dumps(json.loads(text), separators=(",", ":"), ensure_ascii=False)


def test_a_rewrite_that_loses_instances_is_counted() -> None:
    backend = LLGuidance(Tokens.bytes())
    shipped, unbounded = StructuredService(), StructuredService(UNBOUNDED)
    try:
        fair = check_case(
            Case("s", "n", SCHEMA), {"unbounded": unbounded, "shipped": shipped}, backend, 6
        )
        narrowing: Any = Narrowing()
        lossy = check_case(
            Case("s", "n", SCHEMA), {"unbounded": narrowing, "shipped": shipped}, backend, 6
        )
    finally:
        shipped.close()
        unbounded.close()
    assert fair["strict_accepted"] and fair["strict_lost"] == []
    instances = collect_instances(SCHEMA, backend, 6, seed=0)
    assert lossy["strict_lost"] == [t for t in instances if t != '{"a":0}'] != []


def test_cli_writes_the_table_and_json(tmp_path: Path, capsys: Any) -> None:
    (tmp_path / "Glaiveai2K").mkdir()
    (tmp_path / "Glaiveai2K" / "one.json").write_text(json.dumps(SCHEMA))
    out = tmp_path / "out.json"
    argv = ["--data", str(tmp_path), "--subsets", "Glaiveai2K", "--samples", "4", "--out", str(out)]
    assert cli.main(["jsb-offline", *argv]) == 0
    summary = json.loads(out.read_text())["summary"]["Glaiveai2K"]
    assert (summary["strict_accepted"], summary["nonstrict_accepted"]) == (1, 1)
    assert summary["strict_instances"] >= 2 and summary["strict_lost"] == 0
    assert "| Glaiveai2K | 1/1 | 1/1 |" in capsys.readouterr().out
