"""The gateway's own Prometheus metrics: one registry per app, no module globals."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

if TYPE_CHECKING:
    from server.engines import Endpoint

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0)
_DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 40.0, 80.0, 160.0, 320.0)

# Metric name -> its HELP text.
_HELP = {
    "structserve_requests": "Requests by route and status.",
    "structserve_request_duration_seconds": "End-to-end request duration seen by the gateway.",
    "structserve_ttft_seconds": "Time to first streamed token, measured at the gateway.",
    "structserve_inter_token_latency_seconds": "Time between streamed chunks, measured at the "
    "gateway.",
    "structserve_in_flight_requests": "Requests being served now.",
    "structserve_engine_ready": "1 when the engine passes health.",
    "structserve_engine_structured_verified": "1 when the backend canary verified the engine's "
    "structured-output backend (strict requests go only to verified engines).",
    "structserve_engine_restarts": "Engine restarts by the supervisor.",
    "structserve_client_disconnects": "Requests whose client went away; their engine request "
    "was aborted.",
    "structserve_request_timeouts": "Requests that ran past the request timeout (504, or an "
    "error event mid-stream); their engine request was aborted.",
    "structserve_structured_rejections": "Structured-output requests refused before decoding.",
    "structserve_structured_validation_failures": "Generated outputs that failed server-side "
    "validation.",
    "structserve_choice_set_build_seconds": "Time to register a choice set: validate, tokenize, "
    "build its trie, store it.",
    "structserve_choice_set_items": "Items of each stored choice set (set when it is "
    "registered or used by this gateway).",
}
_BUILD_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)


class GatewayMetrics:
    """Every metric the gateway itself measures, in its own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = self._counter("structserve_requests", "route", "status")
        self.duration = self._histogram("structserve_request_duration_seconds", _DURATION_BUCKETS)
        self.ttft = self._histogram("structserve_ttft_seconds", _LATENCY_BUCKETS)
        self.itl = self._histogram("structserve_inter_token_latency_seconds", _LATENCY_BUCKETS)
        self.in_flight = self._gauge("structserve_in_flight_requests")
        self.engine_ready = self._gauge("structserve_engine_ready", "engine")
        self.engine_verified = self._gauge("structserve_engine_structured_verified", "engine")
        self.engine_restarts = self._counter("structserve_engine_restarts", "engine")
        self.client_disconnects = self._counter("structserve_client_disconnects", "route")
        self.request_timeouts = self._counter("structserve_request_timeouts", "route")
        self.structured_rejections = self._counter("structserve_structured_rejections", "reason")
        self.structured_validation_failures = self._counter(
            "structserve_structured_validation_failures"
        )
        name = "structserve_choice_set_build_seconds"
        self.choice_set_build = Histogram(
            name, _HELP[name], buckets=_BUILD_BUCKETS, registry=self.registry
        )
        self.choice_set_items = self._gauge("structserve_choice_set_items", "set")

    def _counter(self, name: str, *labels: str) -> Counter:
        return Counter(name, _HELP[name], labels, registry=self.registry)

    def _gauge(self, name: str, *labels: str) -> Gauge:
        return Gauge(name, _HELP[name], labels, registry=self.registry)

    def _histogram(self, name: str, buckets: tuple[float, ...]) -> Histogram:
        return Histogram(name, _HELP[name], ["route"], buckets=buckets, registry=self.registry)

    def set_engine_ready(self, engines: Iterable[Endpoint]) -> None:
        """Refresh `structserve_engine_ready` (last health probe) and
        `structserve_engine_structured_verified` (backend canary) of each engine."""
        for engine in engines:
            self.engine_ready.labels(engine.url).set(1.0 if engine.ready else 0.0)
            self.engine_verified.labels(engine.url).set(1.0 if engine.verified else 0.0)

    def render(self) -> bytes:
        """The gateway's own metrics in Prometheus text format."""
        return generate_latest(self.registry)
