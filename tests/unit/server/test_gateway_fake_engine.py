"""Gateway behaviour against fake engines (fast; the real engine is in tests/integration)."""

from __future__ import annotations

import json

import pytest

from tests.unit.server.fake_engine import make_engine

CHAT = {"model": "fake-model", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 3}


async def test_chat_relay(make_gateway) -> None:  # type: ignore[no-untyped-def]
    gw, _, _ = await make_gateway()
    r = await gw.post("/v1/chat/completions", json=CHAT)
    assert r.status_code == 200
    assert r.json()["choices"][0]["message"]["content"] == "alpha beta gamma"
    assert r.headers["x-request-id"]


async def test_stream_relay_and_metrics(make_gateway) -> None:  # type: ignore[no-untyped-def]
    gw, _, _ = await make_gateway()
    body = {**CHAT, "stream": True}
    r = await gw.post("/v1/chat/completions", json=body)
    assert r.headers["content-type"].startswith("text/event-stream")
    events = [line[6:] for line in r.text.splitlines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    text = "".join(json.loads(e)["choices"][0]["delta"]["content"] for e in events[:-1])
    assert text == "alpha beta gamma"
    metrics = (await gw.get("/metrics")).text
    assert 'structserve_ttft_seconds_count{route="/v1/chat/completions"} 1.0' in metrics
    assert (
        'structserve_inter_token_latency_seconds_count{route="/v1/chat/completions"} 2.0' in metrics
    )
    assert 'vllm:num_requests_running{model_name="fake-model",engine="http://engine-a"}' in metrics


async def test_engine_error_keeps_status_message_and_param(make_gateway) -> None:  # type: ignore[no-untyped-def]
    gw, _, _ = await make_gateway()
    r = await gw.post(
        "/v1/completions", json={"model": "fake-model", "prompt": "x", "max_tokens": 999_999}
    )
    assert r.status_code == 400
    assert r.json()["error"] == {
        "message": "too long",
        "type": "invalid_request_error",
        "param": "max_tokens",
        "code": "invalid_request",
    }


async def test_unknown_model_404_and_bad_json_400(make_gateway) -> None:  # type: ignore[no-untyped-def]
    gw, _, _ = await make_gateway()
    r = await gw.post("/v1/chat/completions", json={**CHAT, "model": "nope"})
    assert r.status_code == 404 and r.json()["error"]["param"] == "model"
    r = await gw.post("/v1/chat/completions", content=b'{"model": ')
    assert r.status_code == 400 and "not valid JSON" in r.json()["error"]["message"]
    r = await gw.post("/v1/chat/completions", content=b"[" * 100_000 + b"]" * 100_000)
    assert r.status_code == 400
    r = await gw.get("/v1/nothing-here")
    assert r.status_code == 404 and r.json()["error"]["type"] == "not_found_error"


async def test_body_limit(make_gateway) -> None:  # type: ignore[no-untyped-def]
    gw, _, _ = await make_gateway(max_body_bytes=2048)
    r = await gw.post("/v1/completions", json={"model": "fake-model", "prompt": "x" * 4096})
    assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"

    async def chunks():  # type: ignore[no-untyped-def]
        for _ in range(4):
            yield b" " * 1024  # no Content-Length: counted as it arrives

    r = await gw.post("/v1/completions", content=chunks())
    assert r.status_code == 413


async def test_n_limit(make_gateway) -> None:  # type: ignore[no-untyped-def]
    gw, _, _ = await make_gateway(max_n=2)
    r = await gw.post("/v1/chat/completions", json={**CHAT, "n": 3})
    assert r.status_code == 400 and r.json()["error"]["param"] == "n"


async def test_api_keys(make_gateway) -> None:  # type: ignore[no-untyped-def]
    gw, _, _ = await make_gateway(api_keys=["alpha", "beta"])
    assert (await gw.get("/health")).status_code == 200
    assert (await gw.get("/ready")).status_code == 200
    assert (await gw.get("/v1/models")).status_code == 401
    assert (await gw.get("/metrics")).status_code == 401
    bad = await gw.get("/v1/models", headers={"Authorization": "Bearer gamma"})
    assert bad.status_code == 401 and bad.headers["www-authenticate"] == "Bearer"
    assert (await gw.get("/v1/models", headers={"Authorization": "Basic beta"})).status_code == 401
    ok = await gw.get("/v1/models", headers={"Authorization": "Bearer beta"})
    assert ok.status_code == 200


async def test_public_metrics_when_configured(make_gateway) -> None:  # type: ignore[no-untyped-def]
    gw, _, _ = await make_gateway(api_keys=["alpha"], metrics_require_auth=False)
    assert (await gw.get("/metrics")).status_code == 200
    assert (await gw.get("/v1/models")).status_code == 401


async def test_least_loaded_routing_and_ejection(make_gateway) -> None:  # type: ignore[no-untyped-def]
    a, b = make_engine(), make_engine()
    gw, _, pool = await make_gateway({"engine-a": a, "engine-b": b})
    ep_a, ep_b = pool.endpoints
    ep_a.outstanding = 5
    for _ in range(3):
        assert (await gw.post("/v1/chat/completions", json=CHAT)).status_code == 200
    assert len(b.state.bodies) == 3 and not a.state.bodies

    b.state.healthy = False
    await pool.probe(ep_b)
    assert not ep_b.ready
    assert (await gw.post("/v1/chat/completions", json=CHAT)).status_code == 200
    assert len(a.state.bodies) == 1

    a.state.healthy = False
    await pool.probe(ep_a)
    r = await gw.post("/v1/chat/completions", json=CHAT)
    assert r.status_code == 503 and r.headers["retry-after"] == "5"
    assert (await gw.get("/ready")).status_code == 503

    b.state.healthy = True
    await pool.probe(ep_b)
    assert (await gw.post("/v1/chat/completions", json=CHAT)).status_code == 200
    assert (await gw.get("/ready")).status_code == 200


async def test_models_union_over_engines(make_gateway) -> None:  # type: ignore[no-untyped-def]
    gw, _, _ = await make_gateway({"engine-a": make_engine("m1"), "engine-b": make_engine("m2")})
    data = (await gw.get("/v1/models")).json()["data"]
    assert [m["id"] for m in data] == ["m1", "m2"]
    assert data[0]["structserve"]["source"] == "/models/m1"
    assert (await gw.get("/v1/models/m2")).json()["id"] == "m2"
    assert (await gw.get("/v1/models/m3")).status_code == 404


async def test_transport_failure_ejects_engine(make_gateway) -> None:  # type: ignore[no-untyped-def]
    gw, _, pool = await make_gateway()
    pool.endpoints[0].url = "http://gone"  # requests now fail to connect
    r = await gw.post("/v1/chat/completions", json=CHAT)
    assert r.status_code == 503
    assert not pool.endpoints[0].ready


@pytest.mark.parametrize("stream", [False, True])
async def test_structured_verdict_attached(make_gateway, monkeypatch, stream: bool) -> None:  # type: ignore[no-untyped-def]
    from server import generation
    from server.structured import StructuredPlan

    class _Plan(StructuredPlan):
        def check(  # type: ignore[override]
            self, text: str, finish_reason: str | None, *, closed: bool | None = None
        ) -> dict:
            return {"seen": text, "finish": finish_reason}

    monkeypatch.setattr(generation, "plan_request", lambda body, *a, **k: _Plan(kind="regex"))
    gw, _, _ = await make_gateway()
    r = await gw.post("/v1/chat/completions", json={**CHAT, "stream": stream})
    if stream:
        events = [json.loads(x[6:]) for x in r.text.splitlines() if x.startswith("data: {")]
        verdict = events[-1]["choices"][0]["structured_output"]
    else:
        verdict = r.json()["choices"][0]["structured_output"]
    assert verdict == {"seen": "alpha beta gamma", "finish": "length"}


async def test_admission_bound_gives_429(make_gateway) -> None:  # type: ignore[no-untyped-def]
    import asyncio

    gw, _, _ = await make_gateway(
        {"engine-a": make_engine(delay_s=0.3)}, max_outstanding_requests=2
    )
    results = await asyncio.gather(*(gw.post("/v1/chat/completions", json=CHAT) for _ in range(3)))
    codes = sorted(r.status_code for r in results)
    assert codes == [200, 200, 429]
    limited = next(r for r in results if r.status_code == 429)
    assert limited.headers["retry-after"] == "1"
    assert limited.json()["error"]["type"] == "rate_limit_error"
    assert (await gw.post("/v1/chat/completions", json=CHAT)).status_code == 200


async def test_slow_body_gives_408(make_gateway) -> None:  # type: ignore[no-untyped-def]
    import asyncio

    gw, _, _ = await make_gateway(body_read_timeout_s=0.2)

    async def trickle():  # type: ignore[no-untyped-def]
        yield b'{"model": '
        await asyncio.sleep(1.0)
        yield b'"fake-model"}'

    r = await gw.post("/v1/chat/completions", content=trickle())
    assert r.status_code == 408 and r.json()["error"]["code"] == "request_timeout"


async def test_openapi_documents_bodies_and_errors(make_gateway) -> None:  # type: ignore[no-untyped-def]
    gw, _, _ = await make_gateway()
    doc = (await gw.get("/openapi.json")).json()
    op = doc["paths"]["/v1/chat/completions"]["post"]
    ref = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert ref == "#/components/schemas/ChatCompletionRequest"
    schemas = doc["components"]["schemas"]
    assert "messages" in schemas["ChatCompletionRequest"]["properties"]
    assert "ChatMessage" in schemas and "ErrorResponse" in schemas
    assert {"400", "404", "413", "503"} <= set(op["responses"])


async def test_slow_health_is_tolerated_a_few_times(make_gateway) -> None:  # type: ignore[no-untyped-def]
    import httpx as _httpx

    _, _, pool = await make_gateway()
    await pool.stop()  # no background probes racing the manual ones
    ep = pool.endpoints[0]
    assert ep.ready
    for attempt in range(1, 4):
        pool._probe_failed(ep, _httpx.ReadTimeout("busy"))
        assert ep.ready is (attempt < 3)
    await pool.probe(ep)
    assert ep.ready and ep.consecutive_failures == 0
    pool._probe_failed(ep, _httpx.ConnectError("refused"))
    assert not ep.ready


@pytest.mark.parametrize("stream", [False, True])
async def test_request_timeout_gives_504(make_gateway, stream: bool) -> None:  # type: ignore[no-untyped-def]
    gw, _, pool = await make_gateway({"engine-a": make_engine(delay_s=0.5)}, request_timeout_s=0.2)
    r = await gw.post("/v1/chat/completions", json={**CHAT, "stream": stream})
    assert r.status_code == 504
    assert r.json()["error"]["type"] == "timeout_error"
    assert r.json()["error"]["code"] == "engine_timeout"
    assert pool.endpoints[0].outstanding == 0
    metrics = (await gw.get("/metrics")).text
    assert 'structserve_request_timeouts_total{route="/v1/chat/completions"} 1.0' in metrics


@pytest.mark.parametrize("stream", [False, True])
async def test_every_503_and_429_carries_retry_after(make_gateway, stream: bool) -> None:  # type: ignore[no-untyped-def]
    gw, _, pool = await make_gateway()
    pool.endpoints[0].url = "http://gone"  # the engine fails mid-request
    r = await gw.post("/v1/chat/completions", json={**CHAT, "stream": stream})
    assert r.status_code == 503 and r.headers["retry-after"] == "5"
    r = await gw.post("/v1/chat/completions", json={**CHAT, "stream": stream})
    assert r.status_code == 503 and r.headers["retry-after"] == "5"  # now: no ready engine


async def test_slow_probes_do_not_eject_an_engine_that_streams_output(make_gateway) -> None:  # type: ignore[no-untyped-def]
    """A busy engine answers /health late while it decodes: streaming output proves it alive;
    once the output stops, slow probes eject it as before (a hung engine streams nothing)."""
    import time

    import httpx as _httpx

    _, _, pool = await make_gateway()
    await pool.stop()  # no background probes racing the manual ones
    ep = pool.endpoints[0]
    assert ep.ready
    for _ in range(5):
        ep.last_output_at = time.monotonic()
        pool._probe_failed(ep, _httpx.ReadTimeout("busy"))
        assert ep.ready and ep.consecutive_failures == 0
    ep.last_output_at = time.monotonic() - 2 * pool.probe_timeout_s
    for _ in range(3):
        pool._probe_failed(ep, _httpx.ReadTimeout("hung"))
    assert not ep.ready
    ep.ready, ep.last_output_at = True, time.monotonic()
    pool._probe_failed(ep, _httpx.ConnectError("refused"))  # gone: ejected at once regardless
    assert not ep.ready


async def test_streaming_marks_the_engine_alive(make_gateway) -> None:  # type: ignore[no-untyped-def]
    gw, _, pool = await make_gateway()
    before = pool.endpoints[0].last_output_at
    r = await gw.post("/v1/chat/completions", json={**CHAT, "stream": True})
    assert r.status_code == 200
    assert pool.endpoints[0].last_output_at > before
