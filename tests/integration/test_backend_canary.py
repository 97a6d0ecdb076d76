"""The gateway verifies each real engine's structured-output backend (server.structured.canary).

(a) The session's engine (started by `structserve serve`, guidance) is verified: verdicts and
/ready say "guidance". (b) A second real engine started with `{"backend": "xgrammar"}` (what a
deployment without the flag gets for most schemas) behind a gateway attached by `--engine-url`:
the canary fails, strict requests get 503 naming why, non-strict ones are served and stamped
unverified.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from server.launcher import running_engine
from tests.integration.gateways import Gateway, attached_to, engine_spec
from tests.prereq import require_default_model

SCHEMA = {
    "type": "object",
    "properties": {"n": {"type": "integer", "minimum": 0, "maximum": 9}},
    "required": ["n"],
    "additionalProperties": False,
}


def ask(gw: Gateway, *, strict: bool) -> Any:
    spec = {"name": "t", "schema": SCHEMA, "strict": strict}
    return gw.client().chat.completions.create(
        model=gw.model,
        messages=[{"role": "user", "content": "Give a digit as JSON."}],
        response_format={"type": "json_schema", "json_schema": spec},  # type: ignore[typeddict-item]
        max_tokens=20,
        temperature=0,
    )


def backend_of(response: Any) -> str:
    return str((response.choices[0].model_extra or {})["structured_output"]["backend"])


def ready_backends(gw: Gateway) -> list[str]:
    body = httpx.get(f"{gw.base_url}/ready", timeout=30).json()
    return [engine["structured_backend"] for engine in body["engines"]]


def test_session_engine_is_verified_guidance(gateway: Gateway) -> None:
    assert ready_backends(gateway) == ["guidance"]
    assert backend_of(ask(gateway, strict=True)) == "guidance"


@pytest.fixture(scope="module")
def xgrammar_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """A gateway attached to its own real engine that runs vLLM's xgrammar backend."""
    log_dir = tmp_path_factory.mktemp("xgrammar")
    extra = ["--structured-outputs-config", '{"backend": "xgrammar"}']
    spec = engine_spec(require_default_model(), max_model_len=2048, extra_args=extra)
    with running_engine(spec, log_dir / "engine.log"), attached_to(spec.url, log_dir) as gw:
        gw.model = spec.served_name
        yield gw


def test_weakened_engine_refuses_strict(xgrammar_gateway: Gateway) -> None:
    with pytest.raises(openai.InternalServerError) as info:
        ask(xgrammar_gateway, strict=True)
    assert info.value.status_code == 503
    assert info.value.response.headers.get("retry-after")
    error = info.value.body
    assert isinstance(error, dict) and error["code"] == "engine_unverified"
    assert "backend canary 'separators' failed" in error["message"], error


def test_weakened_engine_serves_non_strict_unverified(xgrammar_gateway: Gateway) -> None:
    backend = backend_of(ask(xgrammar_gateway, strict=False))
    assert backend.startswith("unverified: backend canary 'separators' failed"), backend
    assert ready_backends(xgrammar_gateway)[0].startswith("unverified:")
