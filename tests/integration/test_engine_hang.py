"""A hung engine (SIGSTOP): requests end with 504 at the request timeout, /ready turns false
once the health probes time out, new requests get 503; after SIGCONT it serves again.

It freezes its engine for ~10 s: it runs on a gateway of its own (`own_gateway`), not the
session's.
"""

from __future__ import annotations

import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from tests.integration.gateways import Gateway, attached, wait_ready

TIMEOUT_S = 3.0


def _timed(gw: Gateway, body: dict[str, object]) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    r = httpx.post(f"{gw.base_url}/v1/completions", json=body, timeout=30)
    return r, time.monotonic() - started


def _ready(gw: Gateway) -> bool:
    return httpx.get(f"{gw.base_url}/ready", timeout=5).status_code == 200


def test_hung_engine_times_out_then_recovers(own_gateway: Gateway, tmp_path: Path) -> None:
    flags = ("--request-timeout-s", str(TIMEOUT_S), "--health-timeout-s", "1")
    with attached(own_gateway, tmp_path, *flags) as gw:
        _hang_then_recover(own_gateway, gw)


def _hang_then_recover(gateway: Gateway, gw: Gateway) -> None:
    engine = gateway.engine_process()
    body = {"model": gw.model, "prompt": "Hi", "max_tokens": 4}
    os.killpg(engine.pid, signal.SIGSTOP)  # its own process group: API server, core, workers
    try:
        with ThreadPoolExecutor(2) as pool:  # both at once: before the probes eject the engine
            answers = list(
                pool.map(lambda stream: _timed(gw, {**body, "stream": stream}), (False, True))
            )
        for r, took in answers:
            assert r.status_code == 504 and TIMEOUT_S <= took < TIMEOUT_S + 1.5, (r.text, took)
            assert r.json()["error"]["code"] == "engine_timeout"
        deadline = time.monotonic() + 15  # 3 failed probes of 1 s each, 0.5 s apart
        while _ready(gw):
            assert time.monotonic() < deadline, "/ready stayed true while the engine hung"
            time.sleep(0.2)
        r = httpx.post(f"{gw.base_url}/v1/completions", json=body, timeout=10)
        assert r.status_code == 503 and r.headers["retry-after"] == "5"
    finally:
        os.killpg(engine.pid, signal.SIGCONT)
    wait_ready(gw, 60)
    out = gw.client().completions.create(model=gw.model, prompt="Hi", max_tokens=3)
    assert out.usage is not None and out.usage.completion_tokens == 3
    assert gateway.engine_process().pid == engine.pid, "a hang is not a crash: no restart"
    wait_ready(gateway, 60)  # the supervising gateway ejected it too, and takes it back
