"""SIGTERM drains in-flight requests, then stops the engine. Runs last: it ends the session's
gateway (the fixture's teardown then finds it already stopped)."""

from __future__ import annotations

import json
import signal
import threading
import time

import httpx
import psutil

from tests.integration.conftest import Gateway


def test_sigterm_drains_then_stops_engine(gateway: Gateway) -> None:
    engine = gateway.engine_process()
    body = {
        "model": gateway.model,
        "prompt": "Once upon a time",
        "max_tokens": 150,
        "ignore_eos": True,
        "stream": True,
    }
    events: list[str] = []
    unary: dict[str, object] = {}

    def unary_call() -> None:
        unary["started"] = True
        r = httpx.post(
            f"{gateway.base_url}/v1/completions",
            json={**body, "stream": False, "max_tokens": 40},
            timeout=120,
        )
        unary["status"] = r.status_code
        unary["tokens"] = r.json()["usage"]["completion_tokens"]

    worker = threading.Thread(target=unary_call)
    with httpx.stream(
        "POST", f"{gateway.base_url}/v1/completions", json=body, timeout=120
    ) as response:
        lines = response.iter_lines()
        events.append(next(lines))
        worker.start()
        # SIGTERM only once both requests are accepted (running in the engine)
        deadline = time.monotonic() + 30
        while gateway.engine_metric("vllm:num_requests_running") < 2:
            assert time.monotonic() < deadline, "the second request never started"
            time.sleep(0.05)
        gateway.process.send_signal(signal.SIGTERM)
        events.extend(line for line in lines if line.startswith("data:"))
    worker.join(120)

    assert events[-1] == "data: [DONE]"
    chunks = [json.loads(e[5:]) for e in events if e.startswith("data: {")]
    assert sum(1 for c in chunks if c["choices"] and c["choices"][0]["text"]) == 150
    assert chunks[-1]["choices"][0]["finish_reason"] == "length"
    assert unary == {"started": True, "status": 200, "tokens": 40}, "an accepted request was lost"

    assert gateway.process.wait(60) == 0
    assert not engine.is_running() or engine.status() == psutil.STATUS_ZOMBIE
    try:
        httpx.get(f"{gateway.base_url}/health", timeout=2)
        raise AssertionError("gateway still accepting after shutdown")
    except httpx.ConnectError:
        pass
