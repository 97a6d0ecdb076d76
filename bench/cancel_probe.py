"""The cancellation probe: clients hang up mid-stream; does the server stop their work?

Opens several long streaming requests; once each has read a few output chunks, reads the server's
`vllm:num_requests_running` while all are still connected, then disconnects them all and watches
the count until it is back to where it was. A server that keeps
generating for departed clients shows a running count that stays up until the answers would have
finished.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import Any

import aiohttp

from bench.client import Endpoint, stream_request
from bench.records import BenchRequest, ErrorKind, RequestRecord
from bench.server_metrics import RUNNING, scrape


async def _running(client: aiohttp.ClientSession, url: str) -> float | None:
    sample = await scrape(client, url)
    return None if sample is None else sample.get(RUNNING)


async def cancel_probe(
    client: aiohttp.ClientSession,
    endpoint: Endpoint,
    request: BenchRequest,
    metrics_url: str,
    *,
    clients: int = 4,
    chunks: int = 3,
    max_tokens: int = 1024,
    timeout: float = 20.0,
    poll: float = 0.1,
) -> dict[str, Any]:
    """Disconnect `clients` streams after `chunks` output chunks and time the drain.

    Args:
        client: shared HTTP client.
        endpoint: where to send (sent with `ignore_eos` so answers would run long).
        request: the prompt to use; its budget is raised to `max_tokens`.
        metrics_url: the server's `/metrics` URL.
        clients: concurrent streams to open and abandon.
        chunks: output chunks each reads before hanging up.
        max_tokens: budget of each answer (long, so a non-cancelling server stays busy).
        timeout: seconds to wait for the running count to drop back.
        poll: seconds between `/metrics` polls.

    Returns:
        `{"clients", "aborted", "errors", "running_before", "running_connected" (read while
        every stream is open), "running_after", "drained", "drain_seconds"}`. `drained` is None
        when the count cannot tell: no running gauge, or it did not rise while connected.
    """
    before = await _running(client, metrics_url)
    long_endpoint = replace(endpoint, ignore_eos=True)
    long_request = replace(request, max_tokens=max_tokens)
    records = [RequestRecord(long_request.workload, 0.0) for _ in range(clients)]

    streams = [
        functools.partial(stream_request, client, long_endpoint, long_request, rec)
        for rec in records
    ]
    read_running = functools.partial(_running, client, metrics_url)
    connected = await _hang_up_together(streams, read_running, chunks=chunks, timeout=timeout)
    closed_at = time.perf_counter()
    rose = before is not None and connected is not None and connected > before
    drained, after = (None, None)
    if rose:
        drained, after = await _wait_drain(client, metrics_url, before, closed_at + timeout, poll)
    return {
        "clients": clients,
        "aborted": sum(r.error is ErrorKind.CLIENT_ABORT for r in records),
        "errors": [
            f"{r.error.value}: {r.error_detail}"
            for r in records
            if r.error not in (None, ErrorKind.CLIENT_ABORT)
        ],
        "running_before": before,
        "running_connected": connected,
        "running_after": after,
        "drained": drained,
        "drain_seconds": (time.perf_counter() - closed_at) if drained else None,
    }


async def _hang_up_together(
    streams: Sequence[Callable[..., Awaitable[RequestRecord]]],
    read_running: Callable[[], Awaitable[float | None]],
    *,
    chunks: int,
    timeout: float,
) -> float | None:
    """Run the streams until each has read `chunks` chunks, read the running count while all
    are still connected, then let them all disconnect; returns that count."""
    all_in, release = asyncio.Event(), asyncio.Event()
    reached = [0]

    async def hold() -> None:  # every stream waits here, connected, until the count is read
        reached[0] += 1
        if reached[0] == len(streams):
            all_in.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(release.wait(), timeout)

    running = asyncio.gather(
        *(stream(abort_after_chunks=chunks, before_abort=hold) for stream in streams)
    )
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.shield(all_in.wait()), timeout)
    connected = await read_running()
    release.set()
    await running
    return connected


async def _wait_drain(
    client: aiohttp.ClientSession, url: str, before: float | None, deadline: float, poll: float
) -> tuple[bool | None, float | None]:
    if before is None:
        return None, None
    while True:
        value = await _running(client, url)
        if value is not None and value <= before:
            return True, value
        if time.perf_counter() >= deadline:
            return False, value
        await asyncio.sleep(poll)
