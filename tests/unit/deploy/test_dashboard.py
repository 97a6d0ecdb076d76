"""The Grafana dashboard: it parses, lays out, and queries only metrics that exist."""

from __future__ import annotations

import json
import re

import pytest

from tests.unit.deploy.conftest import DEPLOY, REPO
from tests.unit.deploy.metric_names import (
    ENGINE_METRICS,
    GATEWAY_METRICS,
    HISTOGRAM_SUFFIXES,
    base_name,
    gateway_declared_names,
    queried_metrics,
    vllm_metric_names,
)

DASHBOARD = DEPLOY / "dashboards" / "structserve.json"

# What the dashboard must show (issue 8): a metric per topic.
REQUIRED = {
    "TTFT": {"structserve_ttft_seconds", "vllm:time_to_first_token_seconds"},
    "TPOT/ITL": {"structserve_inter_token_latency_seconds", "vllm:inter_token_latency_seconds"},
    "throughput": {"vllm:generation_tokens_total"},
    "queue": {"vllm:num_requests_waiting"},
    "KV usage": {"vllm:kv_cache_usage_perc"},
    "spec-decode acceptance": {
        "vllm:spec_decode_num_accepted_tokens_total",
        "vllm:spec_decode_num_draft_tokens_total",
    },
    "structured rejections": {"structserve_structured_rejections_total"},
    "validation failures": {"structserve_structured_validation_failures_total"},
    "choice-set mask time": {"structserve_choice_set_mask_seconds"},
    "choice-set registration": {"structserve_choice_set_build_seconds"},
}


@pytest.fixture(scope="module")
def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


def _panels(dashboard: dict) -> list[dict]:
    return [p for p in dashboard["panels"] if p["type"] != "row"]


def _queried(dashboard: dict) -> set[str]:
    names: set[str] = set()
    for panel in _panels(dashboard):
        for target in panel["targets"]:
            names |= queried_metrics(target["expr"])
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            # label_values(SERIES, LABEL): only SERIES is a metric
            series = re.fullmatch(r"label_values\((.*),\s*\w+\)", variable["definition"])
            assert series, variable["definition"]
            names |= queried_metrics(series.group(1))
    return names


def test_parses_with_unique_ids_and_no_overlap(dashboard: dict) -> None:
    assert dashboard["uid"] and dashboard["title"]
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    cells: set[tuple[int, int]] = set()
    for panel in dashboard["panels"]:
        g = panel["gridPos"]
        assert g["x"] + g["w"] <= 24
        mine = {
            (x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])
        }
        assert not cells & mine, f"panel {panel['title']} overlaps another"
        cells |= mine


def test_every_panel_queries_through_the_datasource_variable(dashboard: dict) -> None:
    for panel in _panels(dashboard):
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel["targets"], panel["title"]
        ref_ids = [t["refId"] for t in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids)), panel["title"]


def test_queries_only_known_metrics(dashboard: dict) -> None:
    vllm_names = vllm_metric_names()
    for name in _queried(dashboard):
        family = base_name(name)
        if name.startswith("structserve_"):
            known = GATEWAY_METRICS | ENGINE_METRICS
            assert family in known, f"unknown structserve metric {name}"
            if family != name:
                assert known[family] == "histogram", name
        else:
            assert name.startswith("vllm:"), f"{name} is neither structserve_* nor vllm:*"
            if vllm_names is not None:
                declared = family.removesuffix("_total")
                assert declared in vllm_names, f"installed vLLM declares no {name}"


def test_histograms_are_read_as_histograms(dashboard: dict) -> None:
    for panel in _panels(dashboard):
        for target in panel["targets"]:
            expr = target["expr"]
            for name in queried_metrics(expr):
                if name.endswith("_bucket"):
                    assert expr.startswith("histogram_quantile("), expr
                if name.endswith("_total"):
                    assert "rate(" in expr or "increase(" in expr, f"raw counter in {expr}"


def test_shows_every_required_topic(dashboard: dict) -> None:
    families = {base_name(n) for n in _queried(dashboard)}
    for topic, names in REQUIRED.items():
        assert names <= families, f"{topic}: missing {names - families}"


def test_gateway_metric_list_matches_the_gateway_code() -> None:
    declared = gateway_declared_names(REPO / "server" / "gateway_metrics.py")
    assert declared is not None, "server/gateway_metrics.py not present"
    for name, kind in GATEWAY_METRICS.items():
        written = name.removesuffix("_total") if kind == "counter" else name
        assert written in declared or name in declared, f"gateway_metrics.py declares no {name}"


def test_engine_metric_list_matches_the_processor_code() -> None:
    declared = gateway_declared_names(REPO / "choice_sets" / "step_metrics.py")
    assert declared is not None, "choice_sets/step_metrics.py not present"
    for name, kind in ENGINE_METRICS.items():
        written = name.removesuffix("_total") if kind == "counter" else name
        assert written in declared, f"step_metrics.py declares no {name}"


def test_metric_name_extraction() -> None:
    expr = (
        "histogram_quantile(0.95, sum by (le, route) (rate(structserve_ttft_seconds_bucket"
        '{model_name=~"$model"}[$__rate_interval]))) / on (x) vllm:kv_cache_usage_perc'
    )
    assert queried_metrics(expr) == {"structserve_ttft_seconds_bucket", "vllm:kv_cache_usage_perc"}
    assert base_name("x_bucket") == "x" and HISTOGRAM_SUFFIXES
