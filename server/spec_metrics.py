"""Derived speculative-decoding metrics, computed at scrape time from an engine's counters.

vLLM exports cumulative counters (`vllm:spec_decode_num_drafts`, `..._num_draft_tokens`,
`..._num_accepted_tokens`, `..._num_accepted_tokens_per_pos{position}`); the gateway re-exports
them and adds, per engine, the ratios people ask for (since the engine started):

* `structserve_spec_decode_acceptance_rate`: accepted / drafted tokens.
* `structserve_spec_decode_mean_accepted_length`: tokens emitted per verification step,
  1 + accepted / drafts (the target's own token always counts).
* `structserve_spec_decode_position_acceptance_rate{position}`: share of drafts whose token at
  `position` was accepted.
* `structserve_spec_decode_drafted_tokens` / `..._accepted_tokens`: the counts, as gauges.
"""

from __future__ import annotations

from collections import defaultdict

from prometheus_client.parser import text_string_to_metric_families

_PREFIX = "vllm:spec_decode_"
_FAMILIES = {
    "structserve_spec_decode_acceptance_rate": "Accepted / drafted tokens since engine start.",
    "structserve_spec_decode_mean_accepted_length": "Tokens per verification step: "
    "1 + accepted / drafts.",
    "structserve_spec_decode_position_acceptance_rate": "Share of drafts accepted at position.",
    "structserve_spec_decode_drafted_tokens": "Draft tokens proposed since engine start.",
    "structserve_spec_decode_accepted_tokens": "Draft tokens accepted since engine start.",
}


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def spec_decode_totals(text: str) -> tuple[dict[str, float], dict[str, float]]:
    """Sums of the engine's spec-decode counters (over all label sets), and per position.

    Args:
        text: Prometheus exposition of one engine.

    Returns:
        ({"num_drafts", "num_draft_tokens", "num_accepted_tokens"} -> value, position -> value).
    """
    totals: dict[str, float] = defaultdict(float)
    per_pos: dict[str, float] = defaultdict(float)
    for family in text_string_to_metric_families(text):
        if not family.name.startswith(_PREFIX):
            continue
        short = family.name[len(_PREFIX) :]
        for sample in family.samples:
            if sample.name.endswith("_created"):
                continue
            if short == "num_accepted_tokens_per_pos":
                per_pos[sample.labels.get("position", "0")] += sample.value
            else:
                totals[short] += sample.value
    return dict(totals), dict(per_pos)


def derived_spec_metrics(text: str, engine: str) -> str:
    """Exposition text of the derived metrics for one engine ("" when it does not speculate).

    Args:
        text: the engine's raw Prometheus exposition.
        engine: its `engine` label value.
    """
    totals, per_pos = spec_decode_totals(text)
    if "num_drafts" not in totals:
        return ""
    drafts = totals.get("num_drafts", 0.0)
    drafted = totals.get("num_draft_tokens", 0.0)
    accepted = totals.get("num_accepted_tokens", 0.0)
    label = f'engine="{_escape(engine)}"'
    values: dict[str, list[tuple[str, float]]] = {
        "structserve_spec_decode_acceptance_rate": [(label, accepted / drafted if drafted else 0)],
        "structserve_spec_decode_mean_accepted_length": [
            (label, 1 + accepted / drafts if drafts else 0)
        ],
        "structserve_spec_decode_position_acceptance_rate": [
            (f'{label},position="{_escape(pos)}"', n / drafts if drafts else 0)
            for pos, n in sorted(per_pos.items(), key=lambda kv: int(kv[0]))
        ],
        "structserve_spec_decode_drafted_tokens": [(label, drafted)],
        "structserve_spec_decode_accepted_tokens": [(label, accepted)],
    }
    lines: list[str] = []
    for name, samples in values.items():
        lines.append(f"# HELP {name} {_FAMILIES[name]}")
        lines.append(f"# TYPE {name} gauge")
        lines.extend(f"{name}{{{labels}}} {value}" for labels, value in samples)
    return "\n".join(lines) + "\n"
