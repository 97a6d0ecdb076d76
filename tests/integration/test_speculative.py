"""Speculative decoding with a pruned draft of the served model, against the real engine.

ONE extra gateway + engine runs with `--draft auto` (the draft is built by the gateway in a
child process: a layer-dropped SmolLM2 keeping 26 of 30 layers chosen by measured importance,
no distillation, built in seconds), and is compared with the session gateway (no speculation):
greedy outputs must be identical, with and without a JSON schema.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import jsonschema
import pytest

from tests.integration.conftest import Gateway, free_port, start_gateway, stop_gateway, wait_ready

pytestmark = pytest.mark.integration

AUTO_ARGS = "--method layerdrop --keep-layers 26 --nsamples 2 --seqlen 64"
PROMPTS = (
    "Write a short poem about the sea.",
    "Explain what a hash table is in two sentences.",
    "List three fruits and their colors.",
    "What is the capital of France?",
    "Count from one to ten in words.",
)
SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 20},
        "age": {"type": "integer", "minimum": 0, "maximum": 120},
        "tags": {"type": "array", "items": {"type": "string", "maxLength": 10}, "maxItems": 3},
    },
    "required": ["name", "age", "tags"],
    "additionalProperties": False,
}


@pytest.fixture(scope="module")
def spec_gateway(tmp_path_factory: pytest.TempPathFactory, gateway: Gateway) -> Iterator[Gateway]:
    """A second gateway + engine serving SmolLM2 with an automatically built draft."""
    engine_port = free_port()
    tmp = tmp_path_factory.mktemp("speculative")
    # the session's catalog folder, by path: drafts are cached under this test's --cache-dir
    args = ["--model", _catalog_folder(gateway.model), "--engine-port", str(engine_port)]
    args += ["--kv-cache-gb", "1", "--cache-dir", str(tmp / "cache"), "--health-interval-s", "0.5"]
    args += ["--draft", "auto", f"--draft-auto-args={AUTO_ARGS}", "--num-speculative-tokens", "3"]
    gw = start_gateway(args, tmp / "serve.log", f"http://127.0.0.1:{engine_port}")
    try:
        wait_ready(gw, 600)
        yield gw
    finally:
        stop_gateway(gw)


def _catalog_folder(name: str) -> str:
    from model_loaders.catalog import model_dir
    from server.settings import Settings

    return str(model_dir(Settings().cache_dir, name))


def _chat(gw: Gateway, prompt: str, **kw: Any) -> str:
    reply = gw.client().chat.completions.create(
        model=gw.model,
        messages=[{"role": "user", "content": prompt}],
        max_tokens=kw.pop("max_tokens", 40),
        temperature=0,
        **kw,
    )
    return reply.choices[0].message.content or ""


def test_greedy_output_equals_without_speculation(gateway: Gateway, spec_gateway: Gateway) -> None:
    for prompt in PROMPTS:
        assert _chat(spec_gateway, prompt) == _chat(gateway, prompt), prompt
    assert spec_gateway.engine_metric("vllm:spec_decode_num_draft_tokens_total") > 0
    accepted = spec_gateway.engine_metric("vllm:spec_decode_num_accepted_tokens_total")
    assert accepted > 0, "the 26-layer draft should get some tokens accepted"


def test_json_schema_with_speculation_is_valid_and_identical(
    gateway: Gateway, spec_gateway: Gateway
) -> None:
    fmt = {"type": "json_schema", "json_schema": {"name": "p", "schema": SCHEMA, "strict": True}}
    prompt = "Give a JSON person with name, age and tags."
    spec_text = _chat(spec_gateway, prompt, response_format=fmt, max_tokens=80)
    jsonschema.validate(json.loads(spec_text), SCHEMA)
    assert spec_text == _chat(gateway, prompt, response_format=fmt, max_tokens=80)


def test_metrics_and_model_metadata(spec_gateway: Gateway) -> None:
    card = httpx.get(f"{spec_gateway.base_url}/v1/models", timeout=10).json()["data"][0]
    spec = card["structserve"]["speculative"]
    assert spec["method"] == "draft_model" and spec["num_speculative_tokens"] == 3
    assert len(spec["draft"]["kept_layers"]) == 26
    text = httpx.get(f"{spec_gateway.base_url}/metrics", timeout=10).text
    for name in (
        "structserve_spec_decode_acceptance_rate",
        "structserve_spec_decode_mean_accepted_length",
        'structserve_spec_decode_position_acceptance_rate{engine="',
        "vllm:spec_decode_num_accepted_tokens_per_pos_total",
    ):
        assert name in text, name
    assert spec_gateway.engine_metric("structserve_spec_decode_mean_accepted_length") > 1.0
