"""The engines' metrics as the gateway re-exports them on /metrics.

Each engine's exposition is re-rendered with an extra `engine` label on every sample, and, when
the engine speculates, followed by derived speculative-decoding ratios. vLLM exports cumulative
counters (`vllm:spec_decode_num_drafts`, `..._num_draft_tokens`, `..._num_accepted_tokens`,
`..._num_accepted_tokens_per_pos{position}`); the gateway adds, per engine, the ratios people ask
for (since the engine started):

* `structserve_spec_decode_acceptance_rate`: accepted / drafted tokens.
* `structserve_spec_decode_mean_accepted_length`: tokens emitted per verification step,
  1 + accepted / drafts (the target's own token always counts).
* `structserve_spec_decode_position_acceptance_rate{position}`: share of drafts whose token at
  `position` was accepted.
* `structserve_spec_decode_drafted_tokens` / `..._accepted_tokens`: the counts, as gauges.
"""

from __future__ import annotations

import logging
from collections import defaultdict

import httpx
from prometheus_client.parser import text_string_to_metric_families

log = logging.getLogger("structserve.metrics")

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


async def scrape_engine(client: httpx.AsyncClient, url: str) -> str:
    """One engine's metrics, relabelled and followed by the derived ones ("" when unavailable).

    Args:
        client: the pool's HTTP client.
        url: the engine's base URL (also its `engine` label value).
    """
    try:
        response = await client.get(f"{url}/metrics", timeout=5.0)
        response.raise_for_status()
        return relabel_engine_metrics(response.text, url) + derived_spec_metrics(response.text, url)
    except (httpx.HTTPError, ValueError) as exc:
        log.debug("metrics of %s unavailable: %s", url, exc)
        return ""


def relabel_engine_metrics(text: str, engine: str) -> str:
    """Re-render an engine's exposition text with an extra `engine` label on every sample.

    Args:
        text: Prometheus text exposition scraped from one engine.
        engine: the engine's label value (its URL).

    Returns:
        Exposition text safe to concatenate with other engines' output.
    """
    lines: list[str] = []
    for family in text_string_to_metric_families(text):
        # As prometheus-client writes them: counters are typed under their `_total` name and
        # `_created` timestamps form their own gauge family.
        name = f"{family.name}_total" if family.type == "counter" else family.name
        main = [s for s in family.samples if not s.name.endswith("_created")]
        created = [s for s in family.samples if s.name.endswith("_created")]
        for fam_name, fam_type, samples in (
            (name, family.type, main),
            (f"{family.name}_created", "gauge", created),
        ):
            if not samples:
                continue
            lines.append(f"# HELP {fam_name} {_escape(family.documentation)}")
            lines.append(f"# TYPE {fam_name} {fam_type}")
            for sample in samples:
                labels = {**sample.labels, "engine": engine}
                rendered = ",".join(f'{k}="{_escape(str(v))}"' for k, v in labels.items())
                lines.append(f"{sample.name}{{{rendered}}} {sample.value}")
    return "\n".join(lines) + "\n" if lines else ""


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
