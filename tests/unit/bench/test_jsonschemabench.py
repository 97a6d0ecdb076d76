"""The JSONSchemaBench evaluator's pure parts: prompt protocol, validation, summaries."""

from __future__ import annotations

import json
from pathlib import Path

from bench import jsb_report
from bench.jsb_data import SYSTEM, load_cases, messages
from bench.jsonschemabench import build_parser, is_valid


def test_prompt_protocol() -> None:
    turns = messages({"type": "integer"})
    assert turns[0] == {"role": "system", "content": SYSTEM}
    assert [t["role"] for t in turns[1:]] == ["user", "assistant"] * 2 + ["user"]
    assert json.loads(turns[-1]["content"]) == {"type": "integer"}


def test_validation_uses_formats_and_draft() -> None:
    schema = {"type": "string", "format": "date-time"}
    assert is_valid(schema, '"2024-01-01T00:00:00Z"')
    assert not is_valid(schema, '"soon"')
    assert not is_valid(schema, "not json")


def test_summary_and_markdown() -> None:
    records = [
        {"subset": "Github_hard", "declared": True, "valid": True, "finish_reason": "stop"},
        {"subset": "Github_hard", "declared": True, "valid": False, "finish_reason": "length"},
        {
            "subset": "Github_hard",
            "declared": True,
            "valid": True,
            "finish_reason": "stop",
            "gateway_verdict": {"closed_early": True},
        },
        {"subset": "Github_hard", "declared": False, "valid": False, "finish_reason": None},
    ]
    s = jsb_report.summarize(records)["Github_hard"]
    assert s["declared_coverage"] == 3 / 4 and s["compliance"] == 2 / 3
    assert s["compliance_finished"] == 1.0 and s["truncated"] == 1 and s["stop_but_invalid"] == 0
    assert s["closed_early"] == 1
    md = jsb_report.markdown({"Github_hard": s}, {"target": "x"})
    assert "| Github_hard | 4 |" in md and "| 0 | 1 |" in md  # stop+invalid, closed early
    assert "0.60" in md  # the paper's Guidance declared coverage


def test_sampling_is_seeded(tmp_path: Path) -> None:
    for i in range(5):
        (tmp_path / "Snowplow").mkdir(exist_ok=True)
        (tmp_path / "Snowplow" / f"s{i}.json").write_text(json.dumps({"title": str(i)}))
    first = load_cases(tmp_path, ["Snowplow"], 2, seed=1)
    assert [c.name for c in first] == [c.name for c in load_cases(tmp_path, ["Snowplow"], 2, 1)]
    assert len(load_cases(tmp_path, ["Snowplow"], None, 0)) == 5


def test_defaults_follow_the_benchmark() -> None:
    args = build_parser().parse_args([])
    assert args.max_tokens == 2048 and args.strict is True
    assert args.compile_timeout == 40.0 and args.gen_timeout == 60.0
