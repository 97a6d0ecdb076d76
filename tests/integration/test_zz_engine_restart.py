"""Engine killed -> /ready false and 503s -> supervisor restarts it -> serves again.

Named to run last among the integration modules: it costs one engine restart (~40-60 s).
"""

from __future__ import annotations

import time

import httpx
import openai
import pytest

from tests.integration.conftest import Gateway, wait_ready


def test_engine_killed_then_recovers(gateway: Gateway) -> None:
    client = gateway.client()
    engine = gateway.engine_process()
    engine_children = engine.children(recursive=True)  # EngineCore, workers
    assert engine_children, "vLLM's engine core runs in child processes"
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
        engine.kill()
        rest = [line for line in lines if line.startswith("data:")]
    assert rest, "the open stream must end with an event, not hang"
    assert '"error"' in rest[-1], rest[-1]

    deadline = time.monotonic() + 10
    while httpx.get(f"{gateway.base_url}/ready", timeout=5).status_code != 503:
        assert time.monotonic() < deadline, "/ready never turned false"
        time.sleep(0.2)
    with pytest.raises(openai.APIStatusError) as err:
        client.completions.create(model=gateway.model, prompt="Hi", max_tokens=2)
    assert err.value.status_code == 503

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
