"""The load generator against an in-process fake server: failures are errors, never crashes."""

from __future__ import annotations

import itertools
import math
import random
import statistics

import pytest

from bench.cancel_probe import cancel_probe
from bench.client import Endpoint, stream_request
from bench.latency import summarize
from bench.loadgen import Limits, LoadShape, PointRun, arrival_offsets, run_point
from bench.records import BenchRequest, ErrorKind, RequestRecord
from bench.runner import (
    RunOptions,
    Target,
    compare_rounds,
    make_client,
    run_shapes,
    run_sweep,
    sweep_rates,
)
from bench.server_metrics import MetricsSampler
from tests.unit.bench.fake_openai import FakeServer


def req(prompt: str = "hello", max_tokens: int = 5, schema: dict | None = None) -> BenchRequest:
    return BenchRequest("synthetic", prompt, max_tokens, 3, schema)


async def one(fake: FakeServer, request: BenchRequest, **kw: object) -> RequestRecord:
    endpoint = Endpoint(fake.base_url, str(kw.pop("model", "fake-model")), **kw)  # type: ignore[arg-type]
    async with make_client() as client:
        return await stream_request(client, endpoint, request, RequestRecord("synthetic", 0.0))


async def test_successful_stream_timeline(fake: FakeServer) -> None:
    r = await one(fake, req(max_tokens=5))
    assert r.success, r.error_detail
    assert r.status == 200
    assert len(r.chunk_times) == 5
    assert r.output_tokens == 5 and r.prompt_tokens == 7  # from the usage chunk
    assert r.text == "t0 t1 t2 t3 t4 "
    assert r.finish_reason == "length"
    assert r.ttft is not None and r.ttft >= fake.first_delay
    assert r.latency >= r.ttft
    body = fake.bodies[-1]
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["messages"] == [{"role": "user", "content": "hello"}]


async def test_completions_api_and_extras(fake: FakeServer) -> None:
    r = await one(fake, req(max_tokens=3), api="completions", ignore_eos=True, api_key="k")
    assert r.success and r.text == "t0 t1 t2 "
    body = fake.bodies[-1]
    assert body["prompt"] == "hello" and body["ignore_eos"] is True
    assert "cache_salt" not in body


async def test_cache_salt_modes(fake: FakeServer) -> None:
    await one(fake, req(), cache_salt="request")
    await one(fake, req(), cache_salt="request")
    await one(fake, req(), cache_salt="fixed-salt")
    salts = [b["cache_salt"] for b in fake.bodies]
    assert salts[0] != salts[1] and len(salts[0]) == 32 and salts[2] == "fixed-salt"


@pytest.mark.parametrize(
    ("behaviour", "kind", "status"),
    [
        ("429", ErrorKind.HTTP_4XX, 429),
        ("503", ErrorKind.HTTP_5XX, 503),
        ("broken", ErrorKind.STREAM, 200),
        ("error-event", ErrorKind.HTTP_5XX, 200),
        ("no-done", ErrorKind.STREAM, 200),
        ("garbage", ErrorKind.STREAM, 200),
    ],
)
async def test_failures_are_recorded(
    fake: FakeServer, behaviour: str, kind: ErrorKind, status: int
) -> None:
    r = await one(fake, req(), model=behaviour)
    assert r.error is kind, r.error_detail
    assert r.status == status
    assert r.end >= r.start


async def test_timeout(fake: FakeServer) -> None:
    r = await one(fake, req(), model="slow", timeout=0.3)
    assert r.error is ErrorKind.TIMEOUT


async def test_unreachable_server_is_a_stream_error() -> None:
    endpoint = Endpoint("http://127.0.0.1:9", "m")
    async with make_client() as client:
        r = await stream_request(client, endpoint, req(), RequestRecord("x", 0.0))
    assert r.error is ErrorKind.STREAM


async def test_schema_validity_checked(fake: FakeServer) -> None:
    r = await one(fake, req(schema={"type": "object"}))
    assert r.success and r.schema_valid is True
    assert fake.bodies[-1]["response_format"]["type"] == "json_schema"
    r = await one(fake, req(schema={"type": "array"}))
    assert r.schema_valid is False


async def test_point_with_mixed_failures_completes(fake: FakeServer) -> None:
    prompts = ["a", "!429 x", "b", "!503 x", "!broken x", "c", "!error-event x", "d"]
    requests = [req(p, max_tokens=4) for p in prompts]
    endpoint = Endpoint(fake.base_url, "fake-model")
    async with make_client() as client:
        run = await run_point(
            client, endpoint, requests, LoadShape(max_concurrency=3), progress=False
        )
    s = summarize(run.records, run.duration)
    assert len(run.records) == 8
    assert s["completed"] == 4
    assert s["errors_by_kind"] == {"4xx": 1, "5xx": 2, "timeout": 0, "client_abort": 0, "stream": 1}
    assert s["max_concurrent_requests"] <= 3
    assert s["total_output_tokens"] == 16


async def _limited_point(
    fake: FakeServer, requests: list[BenchRequest], concurrency: int, limits: Limits
) -> PointRun:
    endpoint = Endpoint(fake.base_url, "fake-model")
    async with make_client() as client:
        shape = LoadShape(max_concurrency=concurrency)
        return await run_point(client, endpoint, requests, shape, limits=limits, progress=False)


async def test_max_duration_aborts_in_flight(fake: FakeServer) -> None:
    fake.token_delay = 0.05
    requests = [req(max_tokens=100) for _ in range(4)]
    run = await _limited_point(fake, requests, 2, Limits(max_duration=0.4))
    assert run.stopped == "max_duration"
    assert run.duration < 2.0
    assert {r.error for r in run.records} == {ErrorKind.CLIENT_ABORT}
    assert summarize(run.records, run.duration)["aborted"] == len(run.records) == 2


async def test_error_rate_limit_stops_point(fake: FakeServer) -> None:
    requests = [req("!503 x") for _ in range(40)]
    run = await _limited_point(fake, requests, 1, Limits(max_error_rate=0.5))
    assert run.stopped is not None and run.stopped.startswith("error rate")
    assert len(run.records) < 40


def test_arrivals_poisson_gamma_and_seeded() -> None:
    poisson = arrival_offsets(4000, LoadShape(request_rate=20.0), random.Random(1))
    assert poisson == arrival_offsets(4000, LoadShape(request_rate=20.0), random.Random(1))
    gaps = [b - a for a, b in itertools.pairwise(poisson)]
    assert statistics.mean(gaps) == pytest.approx(0.05, rel=0.06)
    assert statistics.stdev(gaps) == pytest.approx(0.05, rel=0.1)  # exponential: sd == mean
    bursty = arrival_offsets(4000, LoadShape(request_rate=20.0, burstiness=0.25), random.Random(1))
    bgaps = [b - a for a, b in itertools.pairwise(bursty)]
    assert statistics.mean(bgaps) == pytest.approx(0.05, rel=0.15)
    assert statistics.stdev(bgaps) > 1.5 * statistics.stdev(gaps)  # cv = 1/sqrt(shape) = 2
    assert arrival_offsets(3, LoadShape(), random.Random(0)) == [0.0, 0.0, 0.0]


async def test_rate_point_paces_requests(fake: FakeServer) -> None:
    endpoint = Endpoint(fake.base_url, "fake-model")
    shape = LoadShape(request_rate=20.0)
    async with make_client() as client:
        run = await run_point(client, endpoint, [req(max_tokens=2)] * 10, shape, progress=False)
    starts = sorted(r.start for r in run.records)
    expected = arrival_offsets(10, shape, random.Random(0))[-1]
    assert starts[-1] - starts[0] == pytest.approx(expected, abs=0.1)


async def test_cancel_probe_sees_running_drop(fake: FakeServer) -> None:
    fake.token_delay = 0.05
    endpoint = Endpoint(fake.base_url, "fake-model")
    async with make_client() as client:
        result = await cancel_probe(
            client,
            endpoint,
            req(),
            f"{fake.base_url}/metrics",
            clients=3,
            chunks=2,
            timeout=5.0,
            poll=0.02,
        )
    assert result["aborted"] == 3
    assert result["running_before"] == 0.0
    assert result["running_connected"] == 3.0
    assert result["drained"] is True and result["running_after"] == 0.0
    assert result["drain_seconds"] < 2.0


async def test_metrics_sampler_summary(fake: FakeServer) -> None:
    fake.spec_drafts = 5
    sampler = MetricsSampler(f"{fake.base_url}/metrics", interval=0.05)
    async with make_client() as client:
        await sampler.start(client)
        fake.running, fake.spec_drafts = 4, 15
        await __import__("asyncio").sleep(0.2)
        fake.running = 0
        await sampler.stop(client)
    s = sampler.summary()
    assert s["server_metrics"]["vllm:num_requests_running"]["max"] == 4.0
    assert s["server_metrics"]["vllm:num_requests_running"]["before"] == 0.0
    assert s["spec_decode_num_drafts"] == 10
    assert s["spec_decode_acceptance_rate"] == pytest.approx(2 / 3)


async def test_compare_two_targets_alternates_rounds() -> None:
    fast, slow = await FakeServer().start(), await FakeServer(first_delay=0.1).start()
    try:
        targets = [
            Target("slow", Endpoint(slow.base_url, "m"), f"{slow.base_url}/metrics"),
            Target("fast", Endpoint(fast.base_url, "m"), None),
        ]
        options = RunOptions(progress=False, rounds=2, metrics_interval=0)
        points = await run_shapes(
            targets, [req(max_tokens=3)] * 6, [LoadShape(max_concurrency=1)], options
        )
    finally:
        await fast.stop()
        await slow.stop()
    assert [p["target"] for p in points] == ["slow", "fast"]
    assert all(p["completed"] == 6 and p["rounds"] == 2 for p in points)
    assert fast.requests_seen == slow.requests_seen == 6
    ratio = points[0]["median_ttft_ms"] / points[1]["median_ttft_ms"]
    assert ratio > 2.0
    assert points[0]["server_metrics"] is not None and points[1]["server_metrics"] is None


async def test_sweep_runs_sync_throughput_and_rates(fake: FakeServer) -> None:
    targets = [Target("t", Endpoint(fake.base_url, "m"), None)]
    options = RunOptions(progress=False, metrics_interval=0)
    points = await run_sweep(targets, [req(max_tokens=2)] * 6, 2, options)
    labels = [p["label"] for p in points]
    assert labels[:2] == ["c1", "burst"]
    assert len(points) == 4 and all(p["request_rate"] for p in points[2:])
    assert all(p["completed"] == 6 for p in points)


def test_compare_rounds_default() -> None:
    assert compare_rounds(24, LoadShape(max_concurrency=1), None) == 24
    assert compare_rounds(64, LoadShape(max_concurrency=16), None) == 4
    assert compare_rounds(10, LoadShape(max_concurrency=16), None) == 2
    assert compare_rounds(10, LoadShape(request_rate=2.0), None) == 2
    assert compare_rounds(10, LoadShape(max_concurrency=1), 3) == 3


def test_sweep_rates() -> None:
    assert sweep_rates(1.0, 4.0, 2) == pytest.approx([2.0, 3.0])
    assert sweep_rates(4.0, 1.0, 2) == []
    assert sweep_rates(1.0, math.inf, 2) == []


async def test_cancel_probe_cannot_tell_without_a_rising_count(fake: FakeServer) -> None:
    fake.token_delay = 0.02
    fake.metrics_text = lambda: "vllm:num_requests_running 0\n"  # type: ignore[method-assign]
    endpoint = Endpoint(fake.base_url, "fake-model")
    async with make_client() as client:
        result = await cancel_probe(
            client, endpoint, req(), f"{fake.base_url}/metrics", clients=2, timeout=3.0
        )
    assert result["aborted"] == 2 and result["running_connected"] == 0.0
    assert result["drained"] is None
