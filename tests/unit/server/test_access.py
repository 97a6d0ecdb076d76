"""Access: every route but /health and /ready needs a key (taken from the app's route table, so a
new route cannot slip through); keys never reach the logs; one access line per request, without
prompt text unless `log_prompts`."""

from __future__ import annotations

import logging
import re

import pytest
from starlette.routing import Route
from starlette.testclient import TestClient

from tests.unit.server.inprocess import gateway_client

KEY, WRONG = "sk-right-3f9a1c-KEY", "sk-wrong-77be02-KEY"
PUBLIC = {"/health", "/ready"}
MARKER = "PROMPT-MARKER-5d1e"
CHAT = {
    "model": "fake-model",
    "messages": [{"role": "user", "content": f"say {MARKER}"}],
    "max_tokens": 3,
}


def route_calls(client: TestClient) -> list[tuple[str, str]]:
    """(method, concrete path) for every route of the app, path parameters filled in."""
    calls = []
    for route in client.app.routes:  # type: ignore[attr-defined]
        assert isinstance(route, Route), f"unexpected route type {route!r}"
        path = re.sub(r"\{[^}]+\}", "x", route.path)
        calls += [(method, path) for method in sorted(route.methods or {"GET"}) if method != "HEAD"]
    return calls


@pytest.mark.parametrize("metrics_require_auth", [True, False])
def test_every_route_but_health_and_ready_needs_a_key(metrics_require_auth: bool) -> None:
    public = PUBLIC | (set() if metrics_require_auth else {"/metrics"})
    with gateway_client(api_keys=[KEY], metrics_require_auth=metrics_require_auth) as client:
        calls = route_calls(client)
        assert {path for _, path in calls} >= {"/v1/chat/completions", "/metrics", "/openapi.json"}
        for method, path in [*calls, ("GET", "/no/such/route"), ("POST", "/v1/models")]:
            anonymous = client.request(method, path)
            wrong = client.request(method, path, headers={"Authorization": f"Bearer {WRONG}"})
            right = client.request(method, path, headers={"Authorization": f"Bearer {KEY}"})
            if path in public:
                assert anonymous.status_code != 401 and wrong.status_code != 401, path
                continue
            for r in (anonymous, wrong):
                assert r.status_code == 401, (method, path, r.status_code)
                assert r.json()["error"]["type"] == "authentication_error"
                assert r.headers["www-authenticate"] == "Bearer"
            assert right.status_code != 401, (method, path)


def test_keys_never_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with gateway_client(api_keys=[KEY], log_prompts=True) as client:
        for key in (WRONG, KEY, f"{KEY}x", ""):
            headers = {"Authorization": f"Bearer {key}", "X-Api-Key": key}
            client.post("/v1/chat/completions", json=CHAT, headers=headers)
            client.get("/metrics", headers=headers)
    text = "\n".join(f"{r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    assert "structserve.access" in {r.name for r in caplog.records}
    assert KEY not in text and WRONG not in text and "sk-" not in text


def access_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "structserve.access"]


def test_access_line_per_request(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    with gateway_client() as client:
        caplog.clear()
        ok = client.post("/v1/chat/completions", json=CHAT, headers={"x-request-id": "req-42"})
        client.get("/v1/models/nope")
        client.post("/v1/completions", content=b"{bad")
        client.get("/v1/models/../../etc/passwd")
    assert ok.status_code == 200
    lines = access_lines(caplog)
    assert len(lines) == 4, lines
    pattern = (
        r"request id=req-42 method=POST route=/v1/chat/completions status=200 "
        r"duration_ms=\d+\.\d prompt_tokens=- completion_tokens=3"
    )
    assert re.fullmatch(pattern, lines[0]), lines[0]
    assert "route=/v1/models/{model:path} status=404" in lines[1]
    assert "route=/v1/completions status=400" in lines[2]
    assert all(re.search(r"id=[0-9a-f]{32} ", line) for line in lines[1:])
    assert "passwd" not in lines[3]  # the raw path never reaches the log


@pytest.mark.parametrize("log_prompts", [False, True])
def test_prompt_text_only_when_enabled(caplog: pytest.LogCaptureFixture, log_prompts: bool) -> None:
    caplog.set_level(logging.DEBUG)
    with gateway_client(log_prompts=log_prompts) as client:
        assert client.post("/v1/chat/completions", json=CHAT).status_code == 200
        stream = client.post("/v1/chat/completions", json={**CHAT, "stream": True})
        assert stream.status_code == 200
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert (MARKER in text) is log_prompts
    assert len(access_lines(caplog)) >= 2


def test_refused_before_routing_logs_the_route(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    with gateway_client(api_keys=[KEY]) as client:
        caplog.clear()
        assert client.post("/v1/completions", json=CHAT).status_code == 401
        assert client.get("/v1/nothing/here").status_code == 401
    lines = access_lines(caplog)
    assert "route=/v1/completions status=401" in lines[0], lines
    assert "route=other status=401" in lines[1], lines
