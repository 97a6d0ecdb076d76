"""Gateway metrics (prometheus-client, one registry per app) and engine metric re-export."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0)
_DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 40.0, 80.0, 160.0, 320.0)


class GatewayMetrics:
    """Every metric the gateway itself measures, in its own registry (no module globals)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "structserve_requests", "Requests by route and status.", ["route", "status"], registry=r
        )
        self.duration = Histogram(
            "structserve_request_duration_seconds",
            "End-to-end request duration seen by the gateway.",
            ["route"],
            buckets=_DURATION_BUCKETS,
            registry=r,
        )
        self.ttft = Histogram(
            "structserve_ttft_seconds",
            "Time to first streamed token, measured at the gateway.",
            ["route"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.itl = Histogram(
            "structserve_inter_token_latency_seconds",
            "Time between streamed chunks, measured at the gateway.",
            ["route"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.in_flight = Gauge(
            "structserve_in_flight_requests", "Requests being served now.", registry=r
        )
        self.engine_ready = Gauge(
            "structserve_engine_ready", "1 when the engine passes health.", ["engine"], registry=r
        )
        self.engine_restarts = Counter(
            "structserve_engine_restarts",
            "Engine restarts by the supervisor.",
            ["engine"],
            registry=r,
        )
        self.client_disconnects = Counter(
            "structserve_client_disconnects",
            "Requests whose client went away; their engine request was aborted.",
            ["route"],
            registry=r,
        )
        self.request_timeouts = Counter(
            "structserve_request_timeouts",
            "Requests that ran past the request timeout (504, or an error event mid-stream); "
            "their engine request was aborted.",
            ["route"],
            registry=r,
        )
        self.structured_rejections = Counter(
            "structserve_structured_rejections",
            "Structured-output requests refused before decoding.",
            ["reason"],
            registry=r,
        )
        self.structured_validation_failures = Counter(
            "structserve_structured_validation_failures",
            "Generated outputs that failed server-side validation.",
            registry=r,
        )

    def render(self) -> bytes:
        """The gateway's own metrics in Prometheus text format."""
        return generate_latest(self.registry)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


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
