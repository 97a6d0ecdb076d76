"""SIGTERM drains in-flight requests, then stops the engine. It ends its gateway, so it runs on a
gateway of its own (`own_gateway`), not the session's."""

from __future__ import annotations

import json
import signal
import threading

import httpx
import psutil

from tests.integration.gateways import Gateway

UNARY_TOKENS = 240


def test_sigterm_drains_then_stops_engine(own_gateway: Gateway) -> None:
    gateway = own_gateway
    engine = gateway.engine_process()
    body = {
        "model": gateway.model,
        "prompt": "Once upon a time",
        "max_tokens": 300,
        "ignore_eos": True,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    events: list[str] = []
    unary: dict[str, object] = {}

    def unary_call() -> None:
        unary["started"] = True
        r = httpx.post(
            f"{gateway.base_url}/v1/completions",
            json={**body, "stream": False, "stream_options": None, "max_tokens": UNARY_TOKENS},
            timeout=120,
        )
        unary["status"] = r.status_code
        unary["tokens"] = r.json()["usage"]["completion_tokens"]

    worker = threading.Thread(target=unary_call)
    # The unary request first: the gateway counts it until the engine's whole answer (240
    # tokens, seconds here) is in, so the stream opened next overlaps it. The other order raced:
    # a stream whose client does not read still ends in the gateway once its few kB of events
    # fit the socket buffers, which on a loaded machine came before the unary one arrived.
    worker.start()
    gateway.wait_outstanding(1, unary)
    with httpx.stream(
        "POST", f"{gateway.base_url}/v1/completions", json=body, timeout=120
    ) as response:
        lines = response.iter_lines()
        events.append(next(lines))
        # SIGTERM only once this gateway has accepted both (its in-flight gauge)
        gateway.wait_both_in_flight(unary, engine_too=False)
        gateway.process.send_signal(signal.SIGTERM)
        events.extend(line for line in lines if line.startswith("data:"))
    worker.join(120)

    assert events[-1] == "data: [DONE]"
    chunks = [json.loads(e[5:]) for e in events if e.startswith("data: {")]
    assert chunks[-1]["usage"]["completion_tokens"] == 300
    finish = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]]
    assert finish[-1] == "length"
    assert unary == {"started": True, "status": 200, "tokens": UNARY_TOKENS}, (
        "an accepted request was lost"
    )

    assert gateway.process.wait(60) == 0
    assert not engine.is_running() or engine.status() == psutil.STATUS_ZOMBIE
    try:
        httpx.get(f"{gateway.base_url}/health", timeout=2)
        raise AssertionError("gateway still accepting after shutdown")
    except httpx.ConnectError:
        pass
