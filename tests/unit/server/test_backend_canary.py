"""The backend canary: the gateway verifies what each engine enforces (fake engines).

A fake engine answers the canary like vLLM's guidance backend, like xgrammar (ignores x-guidance,
refuses pattern+minLength), or not at all (busy). Strict structured requests go only to verified
engines; everything else still goes through, stamped with what the engine was verified to run.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from server.engines import NOT_VERIFIED
from tests.unit.server.fake_engine import make_engine

SCHEMA = {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}


def _body(strict: bool) -> dict[str, Any]:
    spec = {"name": "x", "schema": SCHEMA, "strict": strict}
    return {
        "model": "fake-model",
        "prompt": "hi",
        "max_tokens": 3,
        "response_format": {"type": "json_schema", "json_schema": spec},
    }


async def test_guidance_engine_is_verified(make_gateway) -> None:  # type: ignore[no-untyped-def]
    gw, _, pool = await make_gateway()
    assert pool.endpoints[0].structured_backend == "guidance"
    r = await gw.post("/v1/completions", json=_body(strict=True))
    assert r.status_code == 200, r.text
    assert r.json()["choices"][0]["structured_output"]["backend"] == "guidance"
    ready = (await gw.get("/ready")).json()
    assert ready["engines"][0]["structured_backend"] == "guidance"
    metrics = (await gw.get("/metrics")).text
    assert 'structserve_engine_structured_verified{engine="http://engine-a"} 1.0' in metrics


async def test_weakened_engine_refuses_strict_serves_the_rest(make_gateway) -> None:  # type: ignore[no-untyped-def]
    gw, _, pool = await make_gateway({"engine-a": make_engine(backend="xgrammar")})
    ep = pool.endpoints[0]
    assert ep.ready and not ep.verified
    assert "separators" in ep.backend_reason and '{"a":1}' in ep.backend_reason
    r = await gw.post("/v1/completions", json=_body(strict=True))
    assert r.status_code == 503 and r.headers["retry-after"]
    error = r.json()["error"]
    assert error["code"] == "engine_unverified" and "separators" in error["message"]
    r = await gw.post("/v1/completions", json=_body(strict=False))
    assert r.status_code == 200, r.text
    backend = r.json()["choices"][0]["structured_output"]["backend"]
    assert backend.startswith("unverified: backend canary 'separators' failed")
    plain = {"model": "fake-model", "prompt": "hi", "max_tokens": 2}
    assert (await gw.post("/v1/completions", json=plain)).status_code == 200
    ready = await gw.get("/ready")
    assert ready.status_code == 200
    assert ready.json()["engines"][0]["structured_backend"].startswith("unverified:")
    metrics = (await gw.get("/metrics")).text
    assert 'structserve_engine_structured_verified{engine="http://engine-a"} 0.0' in metrics


async def test_pending_canary_is_retried(make_gateway) -> None:  # type: ignore[no-untyped-def]
    engine = make_engine(backend="busy")
    gw, _, pool = await make_gateway({"engine-a": engine})
    ep = pool.endpoints[0]
    assert ep.ready and ep.backend_reason.startswith(NOT_VERIFIED) and ep.canary_due
    r = await gw.post("/v1/completions", json=_body(strict=True))
    assert r.status_code == 503 and NOT_VERIFIED in r.json()["error"]["message"]
    assert (await gw.post("/v1/completions", json=_body(strict=False))).status_code == 200
    engine.state.backend = "guidance"
    await pool.probe(ep)  # backing off: not retried yet
    assert not ep.verified
    ep.next_canary_at = 0.0
    await pool.probe(ep)
    assert ep.verified and not ep.canary_due
    assert (await gw.post("/v1/completions", json=_body(strict=True))).status_code == 200


async def test_canary_reruns_after_restart(make_gateway) -> None:  # type: ignore[no-untyped-def]
    engine = make_engine()
    gw, _, pool = await make_gateway({"engine-a": engine})
    ep = pool.endpoints[0]
    assert ep.verified
    await pool.probe(ep)  # still ready: no new canary
    engine.state.backend = "xgrammar"  # the restarted engine runs another backend
    await pool.probe(ep)
    assert ep.verified, "the canary must run at readiness transitions, not on every probe"
    pool.mark_down(ep, "engine exited with code 1")
    await pool.probe(ep)
    assert ep.ready and not ep.verified
    assert (await gw.post("/v1/completions", json=_body(strict=True))).status_code == 503


async def test_strict_prefers_verified_engine(make_gateway) -> None:  # type: ignore[no-untyped-def]
    engines = {"engine-a": make_engine(backend="xgrammar"), "engine-b": make_engine()}
    gw, _, pool = await make_gateway(engines)
    weak, good = pool.endpoints
    good.outstanding = 5  # busier, still chosen for structured requests
    for strict in (True, False):
        r = await gw.post("/v1/completions", json=_body(strict=strict))
        assert r.json()["choices"][0]["structured_output"]["backend"] == "guidance"
    assert pool.pick("fake-model") is weak  # plain requests: least loaded


@pytest.mark.parametrize(
    "extra",
    [
        ["--structured-outputs-config.backend=xgrammar"],
        ["--structured-outputs-config", '{"backend": "xgrammar"}'],
        ["--guided-decoding-backend", "outlines"],
    ],
)
def test_serve_refuses_another_backend_after_dashdash(extra: list[str]) -> None:
    argv = ["serve", "--engine-url", "http://127.0.0.1:9", "--", *extra]
    cmd = [sys.executable, "-m", "server.cli", *argv]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert extra[0] in proc.stderr and "STRUCTSERVE_STRUCTURED_OUTPUTS_CONFIG" in proc.stderr
