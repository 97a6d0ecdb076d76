"""The server's Prometheus `/metrics`: scraped before and after a point, and sampled during it.

Reads vLLM's names (`vllm:num_requests_running`, `vllm:num_requests_waiting`,
`vllm:kv_cache_usage_perc`, `vllm:spec_decode_*`), summed over label sets (one engine may serve
several models). Missing metrics are simply absent: a gateway that exposes none still benchmarks.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

RUNNING = "vllm:num_requests_running"
WAITING = "vllm:num_requests_waiting"
KV_USAGE = "vllm:kv_cache_usage_perc"
GAUGES: tuple[str, ...] = (RUNNING, WAITING, KV_USAGE)
SPEC_DRAFTS = "vllm:spec_decode_num_drafts"
SPEC_DRAFT_TOKENS = "vllm:spec_decode_num_draft_tokens"
SPEC_ACCEPTED = "vllm:spec_decode_num_accepted_tokens"
COUNTERS: tuple[str, ...] = (SPEC_DRAFTS, SPEC_DRAFT_TOKENS, SPEC_ACCEPTED)


def parse_metrics(text: str) -> dict[str, float]:
    """Sum every sample of each metric over its label sets.

    Args:
        text: a Prometheus text exposition.

    Returns:
        `{sample name: value}`; a `_total` sample also appears without the suffix, so
        `vllm:spec_decode_num_drafts` finds the counter however the exposition types it.
    """
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[sample.name] = out.get(sample.name, 0.0) + float(sample.value)
            if sample.name.endswith("_total"):
                base = sample.name.removesuffix("_total")
                out[base] = out.get(base, 0.0) + float(sample.value)
    return out


async def scrape(client: aiohttp.ClientSession, url: str) -> dict[str, float] | None:
    """GET and parse a `/metrics` URL; None when it cannot be read."""
    try:
        async with client.get(url, timeout=aiohttp.ClientTimeout(total=5.0)) as response:
            if response.status != 200:
                return None
            return parse_metrics(await response.text())
    except (aiohttp.ClientError, TimeoutError, ValueError):
        return None


def spec_decode_stats(before: Mapping[str, float], after: Mapping[str, float]) -> dict | None:
    """Speculative-decoding acceptance over a point, from counter deltas (None without drafts)."""
    delta = {k: after.get(k, 0.0) - before.get(k, 0.0) for k in COUNTERS}
    if delta[SPEC_DRAFTS] <= 0 or delta[SPEC_DRAFT_TOKENS] <= 0:
        return None
    return {
        "spec_decode_acceptance_rate": delta[SPEC_ACCEPTED] / delta[SPEC_DRAFT_TOKENS],
        "spec_decode_acceptance_length": 1.0 + delta[SPEC_ACCEPTED] / delta[SPEC_DRAFTS],
        "spec_decode_num_drafts": int(delta[SPEC_DRAFTS]),
        "spec_decode_draft_tokens": int(delta[SPEC_DRAFT_TOKENS]),
        "spec_decode_accepted_tokens": int(delta[SPEC_ACCEPTED]),
    }


@dataclass
class MetricsSampler:
    """Scrapes `/metrics` around (and every `interval` seconds during) one or more windows.

    A point run in several rounds (comparisons alternate targets) opens one window per round;
    gauges are pooled over all samples and counters are summed over the windows, so traffic sent
    to another target between rounds is not counted.

    Attributes:
        url: the `/metrics` URL.
        interval: seconds between samples during a window; 0 scrapes only at its ends.
    """

    url: str
    interval: float = 1.0
    before: dict[str, float] | None = None
    after: dict[str, float] | None = None
    samples: list[dict[str, float]] = field(default_factory=list)
    counter_deltas: dict[str, float] = field(default_factory=dict)
    _window_start: dict[str, float] | None = None
    _task: asyncio.Task | None = None

    async def start(self, client: aiohttp.ClientSession) -> None:
        """Open a window: snapshot the metrics and start sampling."""
        self._window_start = await scrape(client, self.url)
        if self.before is None:
            self.before = self._window_start
        if self._window_start is not None and self.interval > 0:
            self._task = asyncio.create_task(self._loop(client))

    async def _loop(self, client: aiohttp.ClientSession) -> None:
        while True:
            await asyncio.sleep(self.interval)
            sample = await scrape(client, self.url)
            if sample is not None:
                self.samples.append(sample)

    async def stop(self, client: aiohttp.ClientSession) -> None:
        """Close the window: stop sampling, snapshot, and add up the counter deltas."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        end = await scrape(client, self.url)
        if end is None or self._window_start is None:
            return
        self.after = end
        for name in COUNTERS:
            delta = end.get(name, 0.0) - self._window_start.get(name, 0.0)
            self.counter_deltas[name] = self.counter_deltas.get(name, 0.0) + delta

    def summary(self) -> dict[str, Any]:
        """Gauges before/after with their mean and max while sampling, and spec-decode stats."""
        if self.before is None:
            return {"server_metrics": None}
        after = self.after or {}
        gauges: dict[str, Any] = {}
        for name in GAUGES:
            seen = [s[name] for s in self.samples if name in s]
            gauges[name] = {
                "before": self.before.get(name),
                "after": after.get(name),
                "mean": (sum(seen) / len(seen)) if seen else None,
                "max": max(seen) if seen else None,
            }
        out: dict[str, Any] = {"server_metrics": gauges}
        out.update(spec_decode_stats({}, self.counter_deltas) or {})
        return out
