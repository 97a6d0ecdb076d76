"""The cancellation probe: clients hang up mid-stream; does the server stop their work?

Opens several long streaming requests, disconnects each after a few output chunks, then watches
the server's `vllm:num_requests_running` until it is back to where it was. A server that keeps
generating for departed clients shows a running count that stays up until the answers would have
finished.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import replace
from typing import Any

import httpx

from bench.client import Endpoint, stream_request
from bench.records import ErrorKind, RequestRecord
from bench.server_metrics import RUNNING, scrape
from bench.workloads import BenchRequest


async def _running(client: httpx.AsyncClient, url: str) -> float | None:
    sample = await scrape(client, url)
    return None if sample is None else sample.get(RUNNING)


async def cancel_probe(
    client: httpx.AsyncClient,
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
        `{"clients", "aborted", "running_before", "running_peak", "running_after", "drained",
        "drain_seconds"}`; the running fields are None when `/metrics` has no running gauge.
    """
    before = await _running(client, metrics_url)
    long_request = replace(request, max_tokens=max_tokens)
    long_endpoint = replace(endpoint, ignore_eos=True)
    peak: list[float] = []

    async def watch() -> None:
        while True:
            value = await _running(client, metrics_url)
            if value is not None:
                peak.append(value)
            await asyncio.sleep(poll)

    watcher = asyncio.create_task(watch())
    records = [RequestRecord(long_request.workload, 0.0) for _ in range(clients)]
    await asyncio.gather(
        *(
            stream_request(client, long_endpoint, long_request, rec, abort_after_chunks=chunks)
            for rec in records
        )
    )
    closed_at = time.perf_counter()
    watcher.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await watcher
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
        "running_peak": max(peak) if peak else None,
        "running_after": after,
        "drained": drained,
        "drain_seconds": (time.perf_counter() - closed_at) if drained else None,
    }


async def _wait_drain(
    client: httpx.AsyncClient, url: str, before: float | None, deadline: float, poll: float
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
