"""Engine killed -> open streams end with an error event, in-flight and new requests get 503,
/ready false -> supervisor restarts it -> serves again.

It kills its engine, so it runs on a gateway of its own (`own_gateway`), not the session's;
it costs one engine restart (~40-60 s).
"""

from __future__ import annotations

import threading
import time

import httpx
import openai
import pytest

from tests.integration.gateways import Gateway, wait_ready


def _unary_in_flight(gateway: Gateway, answer: dict[str, object]) -> threading.Thread:
    """A long non-streaming request in a thread; `answer` gets its status, headers and time."""
    body = {"model": gateway.model, "prompt": "Once", "max_tokens": 1500, "ignore_eos": True}

    def call() -> None:
        r = httpx.post(f"{gateway.base_url}/v1/completions", json=body, timeout=60)
        answer.update(status=r.status_code, at=time.monotonic(), headers=r.headers, body=r.json())

    worker = threading.Thread(target=call)
    worker.start()
    return worker


def test_engine_killed_then_recovers(own_gateway: Gateway) -> None:
    gateway = own_gateway
    client = gateway.client()
    engine = gateway.engine_process()
    engine_children = engine.children(recursive=True)  # EngineCore, workers
    assert engine_children, "vLLM's engine core runs in child processes"
    unary: dict[str, object] = {}
    with httpx.stream(
        "POST",
        f"{gateway.base_url}/v1/completions",
        json={
            "model": gateway.model,
            "prompt": "Count:",
            "max_tokens": 1500,
            "ignore_eos": True,
            "stream": True,
        },
        timeout=60,
    ) as response:
        lines = response.iter_lines()
        next(lines)
        worker = _unary_in_flight(gateway, unary)
        gateway.wait_both_in_flight(unary)
        engine.kill()
        killed = time.monotonic()
        rest = [line for line in lines if line.startswith("data:")]
    assert rest, "the open stream must end with an event, not hang"
    assert '"error"' in rest[-1], rest[-1]
    worker.join(30)
    assert unary["status"] == 503, unary  # the in-flight unary request: 503 at once, no hang
    assert float(unary["at"]) - killed < 5.0  # type: ignore[arg-type]
    assert unary["headers"]["retry-after"]  # type: ignore[index]
    assert unary["body"]["error"]["type"] == "service_unavailable_error"  # type: ignore[index]

    deadline = time.monotonic() + 10
    while httpx.get(f"{gateway.base_url}/ready", timeout=5).status_code != 503:
        assert time.monotonic() < deadline, "/ready never turned false"
        time.sleep(0.2)
    with pytest.raises(openai.APIStatusError) as err:
        client.completions.create(model=gateway.model, prompt="Hi", max_tokens=2)
    assert err.value.status_code == 503
    assert err.value.response.headers["retry-after"] == "5"

    wait_ready(gateway, 600)
    out = client.completions.create(model=gateway.model, prompt="Hi", max_tokens=3)
    assert out.usage is not None and out.usage.completion_tokens == 3
    assert gateway.engine_process().pid != engine.pid
    survivors = [p.pid for p in engine_children if p.is_running() and p.status() != "zombie"]
    assert not survivors, f"the killed engine's processes were left running: {survivors}"
    metrics = httpx.get(f"{gateway.base_url}/metrics", timeout=10).text
    restarts = [
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("structserve_engine_restarts_total{")
    ]
    assert restarts and restarts[0] >= 1, "the restart was not counted"
