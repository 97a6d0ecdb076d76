"""Speculative decoding with a pruned draft of the served model, against the real engine.

ONE extra gateway + engine runs with `--draft auto` (the draft is built by the gateway in a
child process: a layer-dropped SmolLM2 keeping 26 of 30 layers chosen by measured importance,
no distillation, built in seconds), and is compared with the session gateway (no speculation):
greedy outputs must be identical (up to bf16 near-ties, see TIE_NATS), with and without a JSON
schema.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import jsonschema
import pytest

from tests.integration.gateways import Gateway, free_port, start_ready_gateway, stop_gateway

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
    gw = start_ready_gateway(args, tmp / "serve.log", f"http://127.0.0.1:{engine_port}", 600)
    try:
        yield gw
    finally:
        stop_gateway(gw)


def _catalog_folder(name: str) -> str:
    from model_loaders.catalog import model_dir
    from server.settings import Settings

    return str(model_dir(Settings().cache_dir, name))


# bf16 verification runs k + 1 tokens in one forward pass, plain decoding one: the GEMM shapes,
# hence rounding, differ, and a near-tie between the two best tokens may flip. Outputs must be
# identical up to the first such position, and the token taken there must be a near-tie under
# the target without speculation (same prefix, so its logprobs there are comparable).
TIE_NATS = 0.25


Tokens = list[tuple[str, dict[str, float]]]


def _chat(gw: Gateway, prompt: str, **kw: Any) -> tuple[str, Tokens]:
    """The greedy answer's text and its (token, {top token: logprob}) pairs."""
    reply = gw.client().chat.completions.create(
        model=gw.model,
        messages=[{"role": "user", "content": prompt}],
        max_tokens=kw.pop("max_tokens", 40),
        temperature=0,
        logprobs=True,
        top_logprobs=5,
        **kw,
    )
    choice = reply.choices[0]
    content = choice.logprobs.content if choice.logprobs else None
    tokens = [(t.token, {c.token: c.logprob for c in t.top_logprobs}) for t in content or []]
    return choice.message.content or "", tokens


def assert_same_greedy(spec: Tokens, plain: Tokens, what: str) -> bool:
    """Identical tokens (True), or identical up to a near-tie of the target (False)."""
    for i, ((s_tok, _), (p_tok, p_top)) in enumerate(zip(spec, plain, strict=False)):
        if s_tok == p_tok:
            continue
        gap = p_top[p_tok] - p_top.get(s_tok, float("-inf"))
        assert gap <= TIE_NATS, (
            f"{what}: token {i} is {s_tok!r} with speculation, {p_tok!r} without "
            f"(logprob gap {gap:.3f} nats, not a near-tie)\n{spec}\n{plain}"
        )
        return False
    assert len(spec) == len(plain), what
    return True


def test_greedy_output_equals_without_speculation(gateway: Gateway, spec_gateway: Gateway) -> None:
    identical = 0
    for prompt in PROMPTS:
        (_, spec), (_, plain) = _chat(spec_gateway, prompt), _chat(gateway, prompt)
        identical += assert_same_greedy(spec, plain, prompt)
    assert identical >= len(PROMPTS) - 2, f"only {identical} of {len(PROMPTS)} identical"
    assert spec_gateway.engine_metric("vllm:spec_decode_num_draft_tokens_total") > 0
    accepted = spec_gateway.engine_metric("vllm:spec_decode_num_accepted_tokens_total")
    assert accepted > 0, "the 26-layer draft should get some tokens accepted"


def test_json_schema_with_speculation_is_valid_and_identical(
    gateway: Gateway, spec_gateway: Gateway
) -> None:
    fmt = {"type": "json_schema", "json_schema": {"name": "p", "schema": SCHEMA, "strict": True}}
    prompt = "Give a JSON person with name, age and tags."
    text, spec = _chat(spec_gateway, prompt, response_format=fmt, max_tokens=80)
    jsonschema.validate(json.loads(text), SCHEMA)
    _, plain = _chat(gateway, prompt, response_format=fmt, max_tokens=80)
    assert_same_greedy(spec, plain, "json")


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
