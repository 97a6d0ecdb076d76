"""The soak run: a bounded mixed workload at a fixed request rate for a fixed time.

Requests arrive open-loop (Poisson) at `rate`, capped at `max_concurrency` in flight. Each is a
plain completion (synthetic prompts) or a chat (chat and JSON-schema prompts), sent streaming
or not; a share of the streams is abandoned by the client after a few chunks. Meanwhile a
`ProcSampler` reads the server's memory and file descriptors every few seconds.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import aiohttp

from bench.client import Endpoint, stream_request, unary_request
from bench.proc_sampler import ProcSampler
from bench.records import BenchRequest, ErrorKind, RequestRecord

log = logging.getLogger("structserve.soak")


class Mode(enum.StrEnum):
    """How one soak request is sent."""

    UNARY = "unary"
    STREAM = "stream"
    ABORT = "abort"  # a stream the client abandons after a few chunks


@dataclass(frozen=True)
class SoakPlan:
    """What to run.

    Attributes:
        rate: mean requests per second.
        duration_s: how long requests are sent; the ones in flight then may finish.
        stream_share: share of the (not aborted) requests sent streaming.
        abort_share: share of requests that are streams the client abandons.
        abort_after_chunks: output chunks an abandoning client reads first.
        max_concurrency: most requests in flight (a bound on the harness, not on the server).
        sample_interval_s: seconds between process samples.
        drain_timeout_s: how long requests in flight at the end may take before they count as
            unfinished.
        seed: seeds arrivals and modes.
    """

    rate: float
    duration_s: float
    stream_share: float = 0.5
    abort_share: float = 0.05
    abort_after_chunks: int = 3
    max_concurrency: int = 64
    sample_interval_s: float = 5.0
    drain_timeout_s: float = 120.0
    seed: int = 0


@dataclass
class SoakRecord:
    """One request of the soak: how it was sent and what came back."""

    mode: Mode
    api: str
    record: RequestRecord
    unfinished: bool = False

    @property
    def failed(self) -> bool:
        """An error: anything but success, or an abort the client meant."""
        if self.unfinished:
            return True
        if self.record.success:
            return False
        return not (self.mode is Mode.ABORT and self.record.error is ErrorKind.CLIENT_ABORT)


@dataclass
class SoakRun:
    """Everything a soak produced."""

    records: list[SoakRecord] = field(default_factory=list)
    wall_s: float = 0.0
    capped: int = 0  # arrivals that waited for the harness's concurrency cap


def api_of(request: BenchRequest) -> str:
    """Synthetic prompts go to /v1/completions, chat and JSON ones to /v1/chat/completions."""
    return "completions" if request.workload == "synthetic" else "chat"


def pick_mode(rng: random.Random, plan: SoakPlan) -> Mode:
    """Draw a request's mode from the plan's shares."""
    draw = rng.random()
    if draw < plan.abort_share:
        return Mode.ABORT
    return Mode.STREAM if rng.random() < plan.stream_share else Mode.UNARY


async def _send(
    cap: asyncio.Semaphore,
    session: aiohttp.ClientSession,
    endpoints: dict[str, Endpoint],
    request: BenchRequest,
    item: SoakRecord,
    plan: SoakPlan,
) -> None:
    """One request in the mode and API `item` says, once the harness cap admits it."""
    endpoint = endpoints[item.api]
    async with cap:
        if item.mode is Mode.UNARY:
            await unary_request(session, endpoint, request, item.record)
        else:
            chunks = plan.abort_after_chunks if item.mode is Mode.ABORT else None
            await stream_request(session, endpoint, request, item.record, abort_after_chunks=chunks)


async def _sample_forever(sampler: ProcSampler, every_s: float, status: Callable[[], str]) -> None:
    while True:
        reading = await asyncio.to_thread(sampler.sample)
        log.info(
            "t=%5.0fs %s | gateway %.0f MiB %d fds | engine %.0f MiB %d fds",
            reading.t,
            status(),
            reading.gateway_rss / 2**20,
            reading.gateway_fds,
            reading.engine_rss / 2**20,
            reading.engine_fds,
        )
        await asyncio.sleep(every_s)


def _status(run: SoakRun) -> str:
    done = [r for r in run.records if r.record.end]
    failed = sum(1 for r in done if r.failed)
    return f"sent {len(run.records)} done {len(done)} failed {failed}"


async def run_soak(
    endpoints: dict[str, Endpoint],
    requests: Sequence[BenchRequest],
    plan: SoakPlan,
    sampler: ProcSampler | None = None,
) -> SoakRun:
    """Send the workload at the plan's rate for its duration, sampling the server meanwhile.

    Args:
        endpoints: by api name ("chat", "completions").
        requests: the workload, cycled through in order.
        plan: rate, duration, shares and bounds.
        sampler: reads the server's processes every `plan.sample_interval_s` (None: no reads).

    Returns:
        Every request sent (those still running after the drain timeout marked unfinished).
    """
    rng, run = random.Random(plan.seed), SoakRun()
    cap = asyncio.Semaphore(plan.max_concurrency)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        watcher = None
        if sampler is not None:
            every = plan.sample_interval_s
            watcher = asyncio.create_task(_sample_forever(sampler, every, lambda: _status(run)))
        loop, tasks = asyncio.get_running_loop(), []
        t0 = loop.time()
        next_at, index = t0, 0
        while (next_at := next_at + rng.expovariate(plan.rate)) < t0 + plan.duration_s:
            await asyncio.sleep(max(0.0, next_at - loop.time()))
            request = requests[index % len(requests)]
            item = SoakRecord(
                pick_mode(rng, plan), api_of(request), RequestRecord(request.workload, 0)
            )
            run.records.append(item)
            index += 1
            run.capped += cap.locked()
            tasks.append(asyncio.create_task(_send(cap, session, endpoints, request, item, plan)))
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=plan.drain_timeout_s)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        run.wall_s = loop.time() - t0
        if watcher is not None:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
            await asyncio.to_thread(sampler.sample)  # type: ignore[union-attr]
    for item in run.records:
        if item.record.error is ErrorKind.CLIENT_ABORT and item.mode is not Mode.ABORT:
            item.unfinished = True
    return run
