"""BFCL results: per category and target, the measures `summary.md` tabulates.

Per (target, category):
- `ast_accuracy`: BFCL's AST accuracy (its checker; irrelevance: share of answers with no
  call), over all requests (an HTTP error counts as wrong);
- `schema_valid`: share of returned tool calls whose arguments validate against the called
  function's converted schema (jsonschema), with `calls` the number of calls;
- `parse_failure`: share of answered requests whose call could not be parsed (arguments that
  are not a JSON object, or `<tool_call>` left in the text with no call returned);
- `no_call`: share of answered requests with neither a call nor a parse failure;
- `http_5xx`, `http_other` (any other non-200 status), `connection_errors`: counts;
- `latency_p50_s`: median latency of answered requests.
`all` pools every request of the target (BFCL's own overall score weights categories
differently; this is not it).
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from typing import Any

from bench.bfcl_run import Outcome

COLUMNS = (
    ("ast_accuracy", "AST acc"),
    ("schema_valid", "schema-valid calls"),
    ("parse_failure", "parse fail"),
    ("no_call", "no call"),
    ("http_5xx", "5xx"),
    ("http_other", "other HTTP"),
    ("latency_p50_s", "p50 s"),
)


def _share(hits: int, total: int) -> float | None:
    return round(hits / total, 4) if total else None


def measures(outcomes: Sequence[Outcome]) -> dict[str, Any]:
    """The measures of one group of outcomes (see the module doc)."""
    answered = [o for o in outcomes if o.status == "ok"]
    checks = [ok for o in answered for ok in o.calls_schema_valid]
    latencies = [o.latency_s for o in answered if o.latency_s is not None]
    return {
        "requests": len(outcomes),
        "answered": len(answered),
        "ast_accuracy": _share(sum(o.valid for o in answered), len(outcomes)),
        "calls": len(checks),
        "schema_valid": _share(sum(checks), len(checks)),
        "parse_failure": _share(sum(o.parse_failure for o in answered), len(answered)),
        "no_call": _share(sum(o.no_call for o in answered), len(answered)),
        "http_5xx": sum(1 for o in outcomes if o.http_status is not None and o.http_status >= 500),
        "http_other": sum(
            1
            for o in outcomes
            if o.http_status is not None and o.http_status not in (200,) and o.http_status < 500
        ),
        "connection_errors": sum(1 for o in outcomes if o.status == "connection_error"),
        "latency_p50_s": round(statistics.median(latencies), 3) if latencies else None,
    }


def table(outcomes_by_target: Mapping[str, Sequence[Outcome]]) -> dict[str, dict[str, Any]]:
    """target -> category (in first-seen order, then `all`) -> measures."""
    result: dict[str, dict[str, Any]] = {}
    for target, outcomes in outcomes_by_target.items():
        categories = list(dict.fromkeys(o.category for o in outcomes))
        rows = {c: measures([o for o in outcomes if o.category == c]) for c in categories}
        rows["all"] = measures(outcomes)
        result[target] = rows
    return result


def _cell(key: str, value: Any) -> str:
    if value is None:
        return "-"
    if key in ("ast_accuracy", "schema_valid", "parse_failure", "no_call"):
        return f"{100 * value:.1f}%"
    return str(value)


def markdown(summary: dict[str, dict[str, Any]], header: dict[str, Any] | None = None) -> str:
    """summary.md: one table, a row per (category, target), plus the run's provenance lines.

    Args:
        summary: `table(...)`'s result.
        header: key -> value lines written above the table (versions, settings).
    """
    lines = ["# BFCL (AST) — structserve vs vLLM direct", ""]
    for key, value in (header or {}).items():
        lines.append(f"- {key}: {value}")
    if header:
        lines.append("")
    head = ["category", "target", "n", *(label for _, label in COLUMNS)]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    categories = list(dict.fromkeys(c for rows in summary.values() for c in rows))
    for category in categories:
        for target, rows in summary.items():
            if category not in rows:
                continue
            row = rows[category]
            cells = [category, target, str(row["requests"])]
            for key, _ in COLUMNS:
                text = _cell(key, row[key])
                if key == "schema_valid" and row["calls"]:
                    text += f" ({row['calls']})"
                cells.append(text)
            lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(
        "AST acc: BFCL's AST checker (irrelevance: no call); schema-valid calls: share of "
        "returned calls valid against the function's schema (number of calls); parse fail / "
        "no call: shares of answered requests; 5xx / other HTTP: counts; p50: median latency."
    )
    return "\n".join(lines) + "\n"
