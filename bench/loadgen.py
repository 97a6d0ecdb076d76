"""The load generator: send one point's requests on a schedule and collect their timelines.

Arrivals are open-loop (Poisson, or gamma with a burstiness factor, at a request rate) or
closed-loop (a fixed number of requests in flight), or both (a rate capped by a concurrency).
Limits end a point early: a number of requests, a duration (in-flight requests are then cancelled
and counted as client aborts) and an error rate.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import aiohttp
from tqdm import tqdm

from bench.client import Endpoint, stream_request
from bench.records import BenchRequest, ErrorKind, RequestRecord

MIN_REQUESTS_FOR_ERROR_RATE = 10


@dataclass(frozen=True)
class LoadShape:
    """How requests arrive at one point.

    Attributes:
        max_concurrency: most requests in flight (None: unbounded).
        request_rate: mean requests per second (inf: all at once).
        burstiness: gamma shape of the inter-arrival times; 1 is Poisson, below 1 burstier,
            above 1 more regular.
    """

    max_concurrency: int | None = None
    request_rate: float = math.inf
    burstiness: float = 1.0

    def label(self) -> str:
        """Short name of the point, e.g. `c16`, `r2.5`, `r2.5-c8`."""
        parts = []
        if not math.isinf(self.request_rate):
            parts.append(f"r{self.request_rate:.3g}")
        if self.max_concurrency is not None:
            parts.append(f"c{self.max_concurrency}")
        return "-".join(parts) or "burst"


@dataclass(frozen=True)
class Limits:
    """When to end a point early.

    Attributes:
        max_duration: seconds after the first send; None: no limit.
        max_error_rate: stop once this share of finished requests failed (checked after
            `MIN_REQUESTS_FOR_ERROR_RATE` finished); None: no limit.
    """

    max_duration: float | None = None
    max_error_rate: float | None = None


@dataclass
class PointRun:
    """What one point produced: its records, its wall duration, and why it stopped early."""

    records: list[RequestRecord]
    duration: float
    stopped: str | None = None
    _finished: int = field(default=0, repr=False)
    _failed: int = field(default=0, repr=False)


def arrival_offsets(n: int, shape: LoadShape, rng: random.Random) -> list[float]:
    """Send times, in seconds after the start, of n requests.

    Args:
        n: number of requests.
        shape: rate and burstiness (an infinite rate sends everything at 0).
        rng: seeded generator.

    Returns:
        Non-decreasing offsets; the first request goes at 0.
    """
    if math.isinf(shape.request_rate) or n == 0:
        return [0.0] * n
    theta = 1.0 / (shape.request_rate * shape.burstiness)
    offsets, t = [0.0], 0.0
    for _ in range(n - 1):
        t += rng.gammavariate(shape.burstiness, theta)
        offsets.append(t)
    return offsets


async def warm_up(
    client: aiohttp.ClientSession, endpoint: Endpoint, requests: Sequence[BenchRequest], n: int
) -> None:
    """Send n requests (cycling through `requests`) a few at a time, results discarded."""
    if n <= 0 or not requests:
        return
    batch = [requests[i % len(requests)] for i in range(n)]
    sem = asyncio.Semaphore(4)

    async def one(req: BenchRequest) -> None:
        async with sem:
            await stream_request(client, endpoint, req, RequestRecord(req.workload, 0.0))

    await asyncio.gather(*(one(r) for r in batch))


async def run_point(
    client: aiohttp.ClientSession,
    endpoint: Endpoint,
    requests: Sequence[BenchRequest],
    shape: LoadShape,
    *,
    limits: Limits = Limits(),
    seed: int = 0,
    progress: bool = True,
    desc: str = "",
) -> PointRun:
    """Send a point's requests with the given arrival shape and limits.

    Args:
        client: shared HTTP client (its pool must allow `shape.max_concurrency` connections).
        endpoint: where and how to send.
        requests: what to send, in order.
        shape: arrivals and concurrency.
        limits: duration and error-rate limits.
        seed: seeds the arrival times.
        progress: show a live progress bar.
        desc: progress bar label.

    Returns:
        The records of every request sent (unsent ones are not recorded), and the wall time.
    """
    offsets = arrival_offsets(len(requests), shape, random.Random(seed))
    sem = asyncio.Semaphore(shape.max_concurrency) if shape.max_concurrency else None
    run = PointRun(records=[], duration=0.0)
    stop = asyncio.Event()
    bar = tqdm(total=len(requests), desc=desc or shape.label(), disable=not progress, unit="req",
        leave=False, dynamic_ncols=True)  # fmt: skip

    async def one(req: BenchRequest) -> None:
        record = RequestRecord(req.workload, time.perf_counter())
        async with sem if sem is not None else contextlib.nullcontext():
            if sem is not None and stop.is_set():  # queued behind the cap when the point stopped
                return
            run.records.append(record)
            await stream_request(client, endpoint, req, record)
        _finish(run, record, limits, stop, bar)

    t0 = time.perf_counter()
    tasks: list[asyncio.Task] = []
    deadline = t0 + limits.max_duration if limits.max_duration else math.inf
    for req, offset in zip(requests, offsets, strict=True):
        wait = min(t0 + offset, deadline) - time.perf_counter()
        if wait > 0 and not stop.is_set():
            await _sleep_or_stop(stop, wait)
        if time.perf_counter() >= deadline:
            run.stopped = run.stopped or "max_duration"
        if stop.is_set() or run.stopped:
            break
        tasks.append(asyncio.create_task(one(req)))
    await _drain(tasks, stop, deadline, run)
    run.duration = time.perf_counter() - t0
    bar.close()
    return run


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


async def _drain(
    tasks: list[asyncio.Task], stop: asyncio.Event, deadline: float, run: PointRun
) -> None:
    """Wait for the sent requests; cancel them at the deadline or when a limit tripped."""
    pending = set(tasks)
    while pending:
        timeout = None if math.isinf(deadline) else max(0.0, deadline - time.perf_counter())
        stopper = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait(
            pending | {stopper}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
        )
        stopper.cancel()
        pending -= done
        if stop.is_set() or (timeout is not None and not done):
            if run.stopped is None:
                run.stopped = "max_duration"
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            return
    for task in tasks:
        if task.done() and not task.cancelled() and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]


def _finish(
    run: PointRun, record: RequestRecord, limits: Limits, stop: asyncio.Event, bar: tqdm
) -> None:
    run._finished += 1
    if record.error is not None and record.error is not ErrorKind.CLIENT_ABORT:
        run._failed += 1
    bar.update(1)
    bar.set_postfix(ok=run._finished - run._failed, err=run._failed, refresh=False)
    rate = limits.max_error_rate
    if (
        rate is not None
        and run._finished >= MIN_REQUESTS_FOR_ERROR_RATE
        and run._failed / run._finished > rate
        and not stop.is_set()
    ):
        run.stopped = f"error rate {run._failed / run._finished:.0%} > {rate:.0%}"
        stop.set()
