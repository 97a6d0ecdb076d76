"""Runs a benchmark's points against one target, or two targets compared in the same run.

With two targets every point is split into rounds that alternate A B, B A, ... on the same
request slices, so slow drift of a shared machine (other jobs, thermal) hits both alike.
A sweep runs synchronous (one request at a time), then throughput (everything at once, or up to
the concurrency cap), then request rates spread evenly between the two measured rates.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from bench.client import Endpoint
from bench.latency import PERCENTILES, Slo, summarize
from bench.loadgen import Limits, LoadShape, run_point, warm_up
from bench.records import BenchRequest, RequestRecord
from bench.server_metrics import MetricsSampler


@dataclass(frozen=True)
class Target:
    """One endpoint under test.

    Attributes:
        name: label in reports (e.g. "gateway", "engine").
        endpoint: where and how to send.
        metrics_url: its Prometheus `/metrics` URL, or None to skip scraping.
    """

    name: str
    endpoint: Endpoint
    metrics_url: str | None = None


@dataclass
class RunOptions:
    """Options shared by every point of a run.

    Attributes:
        limits: per-point duration and error-rate limits.
        warmup: requests sent to each target before the first point (not measured).
        seed: seeds arrivals (the workload has its own seed use).
        slo: goodput bounds.
        percentiles: which percentiles to report.
        rounds: rounds per point when comparing two targets (A B, B A, ...); None: one round per
            `max_concurrency` requests (per request at concurrency 1), at least 2.
        metrics_interval: seconds between `/metrics` samples during a point (0: ends only).
        progress: show progress bars.
    """

    limits: Limits = field(default_factory=Limits)
    warmup: int = 0
    seed: int = 0
    slo: Slo | None = None
    percentiles: Sequence[float] = PERCENTILES
    rounds: int | None = None
    metrics_interval: float = 1.0
    progress: bool = True


def make_client() -> aiohttp.ClientSession:
    """An HTTP session with no connection cap (a pool wait would inflate measured TTFT).

    aiohttp rather than httpx: with 16 streams starting at once on a busy 2-core machine, httpx's
    per-request client work added ~60 ms to the measured p50 TTFT (docs/benchmarks.md).
    """
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0),
        timeout=aiohttp.ClientTimeout(total=None, sock_connect=30.0),
    )


async def run_shapes(
    targets: Sequence[Target],
    requests: Sequence[BenchRequest],
    shapes: Sequence[LoadShape],
    options: RunOptions,
) -> list[dict[str, Any]]:
    """Run each load shape against every target.

    Args:
        targets: one target, or two to compare (the first is the base of ratios).
        requests: the workload, reused at every point.
        shapes: the points.
        options: shared options.

    Returns:
        One summary per (point, target), in run order.
    """
    async with make_client() as client:
        for target in targets:
            await warm_up(client, target.endpoint, requests, options.warmup)
        results = []
        for index, shape in enumerate(shapes):
            results += await _run_shape(client, targets, requests, shape, options, index)
        return results


async def run_sweep(
    targets: Sequence[Target],
    requests: Sequence[BenchRequest],
    n_rates: int,
    options: RunOptions,
    *,
    max_concurrency: int | None = None,
    burstiness: float = 1.0,
) -> list[dict[str, Any]]:
    """Synchronous, then throughput, then `n_rates` rates evenly between them.

    Args:
        targets: one or two targets; rates come from the first.
        requests: the workload.
        n_rates: number of intermediate rates.
        options: shared options.
        max_concurrency: cap of the throughput and rate points (None: unbounded).
        burstiness: gamma shape of the rate points.

    Returns:
        One summary per (point, target), in run order.
    """
    async with make_client() as client:
        for target in targets:
            await warm_up(client, target.endpoint, requests, options.warmup)
        sync_shape = LoadShape(max_concurrency=1)
        results = await _run_shape(client, targets, requests, sync_shape, options, 0)
        top_shape = LoadShape(max_concurrency=max_concurrency)
        results += await _run_shape(client, targets, requests, top_shape, options, 1)
        low, high = results[0]["request_throughput"], results[len(targets)]["request_throughput"]
        for i, rate in enumerate(sweep_rates(low, high, n_rates)):
            shape = LoadShape(max_concurrency, rate, burstiness)
            results += await _run_shape(client, targets, requests, shape, options, i + 2)
        return results


def sweep_rates(low: float, high: float, n: int) -> list[float]:
    """n rates evenly spaced strictly between low and high (none when high <= low)."""
    if n <= 0 or not high > low or math.isinf(high):
        return []
    step = (high - low) / (n + 1)
    return [low + step * (i + 1) for i in range(n)]


def compare_rounds(n: int, shape: LoadShape, rounds: int | None) -> int:
    """Rounds of a compared point: as given, else one per `max_concurrency` requests (>= 2)."""
    if rounds is not None:
        return rounds
    return max(2, n // (shape.max_concurrency or n))


def _slices(n: int, rounds: int) -> list[range]:
    rounds = max(1, min(rounds, n))
    bounds = [n * k // rounds for k in range(rounds + 1)]
    return [range(bounds[k], bounds[k + 1]) for k in range(rounds)]


async def _run_shape(
    client: aiohttp.ClientSession,
    targets: Sequence[Target],
    requests: Sequence[BenchRequest],
    shape: LoadShape,
    options: RunOptions,
    index: int,
) -> list[dict[str, Any]]:
    rounds = _slices(
        len(requests),
        compare_rounds(len(requests), shape, options.rounds) if len(targets) > 1 else 1,
    )
    records: dict[str, list[RequestRecord]] = {t.name: [] for t in targets}
    durations = dict.fromkeys(records, 0.0)
    stopped: dict[str, str | None] = dict.fromkeys(records)
    samplers = {
        t.name: MetricsSampler(t.metrics_url, options.metrics_interval) if t.metrics_url else None
        for t in targets
    }
    for k, part in enumerate(rounds):
        order = list(targets) if k % 2 == 0 else list(reversed(targets))
        for target in order:
            sampler = samplers[target.name]
            if sampler is not None:
                await sampler.start(client)
            run = await run_point(
                client,
                target.endpoint,
                [requests[i] for i in part],
                shape,
                limits=options.limits,
                seed=options.seed + 1000 * index + k,
                progress=options.progress,
                desc=f"{target.name} {shape.label()}",
            )
            if sampler is not None:
                await sampler.stop(client)
            records[target.name] += run.records
            durations[target.name] += run.duration
            stopped[target.name] = stopped[target.name] or run.stopped
    return [
        _point_result(
            t,
            shape,
            records[t.name],
            durations[t.name],
            stopped[t.name],
            samplers[t.name],
            options,
            num_prompts=len(requests),
            rounds=len(rounds),
        )
        for t in targets
    ]


def _point_result(
    target: Target,
    shape: LoadShape,
    records: list[RequestRecord],
    duration: float,
    stopped: str | None,
    sampler: MetricsSampler | None,
    options: RunOptions,
    *,
    num_prompts: int,
    rounds: int,
) -> dict[str, Any]:
    summary = summarize(records, duration, slo=options.slo, percentiles=options.percentiles)
    return {
        "label": shape.label(),
        "target": target.name,
        "base_url": target.endpoint.root,
        "model_id": target.endpoint.model,
        "max_concurrency": shape.max_concurrency,
        "request_rate": None if math.isinf(shape.request_rate) else shape.request_rate,
        "burstiness": shape.burstiness,
        "num_prompts": num_prompts,
        "rounds": rounds,
        "stopped": stopped,
        **(sampler.summary() if sampler is not None else {"server_metrics": None}),
        **summary,
    }
