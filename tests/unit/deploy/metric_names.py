"""Metric names: the ones the gateway exposes, vLLM's, and those a PromQL expression queries."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

# The gateway's metrics, as Prometheus names them (counters end in _total).
GATEWAY_METRICS = {
    "structserve_requests_total": "counter",
    "structserve_request_duration_seconds": "histogram",
    "structserve_ttft_seconds": "histogram",
    "structserve_inter_token_latency_seconds": "histogram",
    "structserve_in_flight_requests": "gauge",
    "structserve_engine_ready": "gauge",
    "structserve_engine_structured_verified": "gauge",
    "structserve_engine_restarts_total": "counter",
    "structserve_structured_rejections_total": "counter",
    "structserve_structured_validation_failures_total": "counter",
    "structserve_choice_set_build_seconds": "histogram",
    "structserve_choice_set_items": "gauge",
}
# Recorded inside the engines (choice_sets/step_metrics.py), relabelled on the gateway's /metrics.
ENGINE_METRICS = {
    "structserve_choice_set_mask_seconds": "histogram",
    "structserve_choice_set_masked_rows_total": "counter",
}
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or",
             "unless", "offset", "inf", "nan"}  # fmt: skip


def queried_metrics(expr: str) -> set[str]:
    """Metric names an expression selects (functions, labels, keywords and variables dropped)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)  # string literals
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # range selectors
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    text = re.sub(r"\$\w+", "", text)  # dashboard variables
    names = set()
    for match in re.finditer(r"(?<![\w:.])([A-Za-z_:][\w:]*)(\s*\()?", text):
        name, call = match.group(1), match.group(2)
        if not call and name.lower() not in _KEYWORDS:
            names.add(name)
    return names


def base_name(name: str) -> str:
    """A histogram series' family name (`x_bucket` -> `x`)."""
    for suffix in HISTOGRAM_SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def vllm_metric_names() -> set[str] | None:
    """`vllm:*` names the installed vLLM declares (without prometheus' _total); None if absent.

    Read from vLLM's source text, not imported: importing vLLM takes tens of seconds.
    """
    spec = importlib.util.find_spec("vllm")
    if spec is None or not spec.submodule_search_locations:
        return None
    root = Path(next(iter(spec.submodule_search_locations)))
    names: set[str] = set()
    for path in (root / "v1" / "metrics").rglob("*.py"):
        names |= set(re.findall(r'"(vllm:[a-z0-9_]+)"', path.read_text()))
    for path in (root / "v1" / "spec_decode").rglob("*.py"):
        names |= set(re.findall(r'"(vllm:[a-z0-9_]+)"', path.read_text()))
    return names or None


def gateway_declared_names(metrics_source: Path) -> set[str] | None:
    """`structserve_*` names as written in server/gateway_metrics.py; None if it is absent."""
    if not metrics_source.is_file():
        return None
    return set(re.findall(r'"(structserve_[a-z0-9_]+)"', metrics_source.read_text()))
