"""Choice sets end to end (issue 18): registered through the gateway, enforced in the real vLLM
engine by the logits processor, used through the official client (bare, streamed, completions,
inline lists above the grammar limit); a new gateway process over the same store keeps them; bad
input gets OpenAI error JSON."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from bench.choice_sets_serving import main as bench_main
from tests.integration.gateways import Gateway, choice_sets_dir
from tests.prereq import default_model_dir

ITEMS = [f"{family}-{i:05d}" for family in ("PUMP", "VALVE", "HOSE", "SEAL") for i in range(2500)]
PROMPT = [{"role": "user", "content": "Which part number fits a garden pump?"}]


@pytest.fixture(scope="module")
def parts(gateway: Gateway) -> Iterator[str]:
    """A 10,000-item set (with duplicates) registered on the session gateway, deleted after."""
    name = "it-parts"
    httpx.delete(f"{gateway.base_url}/v1/choice_sets/{name}", timeout=30)
    response = httpx.post(
        f"{gateway.base_url}/v1/choice_sets",
        json={"name": name, "items": ITEMS + ITEMS[:10]},
        timeout=120,
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["items"] == len(ITEMS) and body["duplicates_dropped"] == 10
    yield name
    httpx.delete(f"{gateway.base_url}/v1/choice_sets/{name}", timeout=30)


def _verdict(choice: Any) -> dict[str, Any]:
    return dict(choice.model_extra["structured_output"])


@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_chat_answer_is_an_item(gateway: Gateway, parts: str, temperature: float) -> None:
    client = gateway.client()
    result = client.chat.completions.create(
        model=gateway.model,
        messages=PROMPT,  # type: ignore[arg-type]
        max_tokens=40,
        temperature=temperature,
        n=1 if temperature == 0.0 else 3,  # vLLM refuses n > 1 with greedy sampling
        extra_body={"structured_outputs": {"choice_set": parts}},
    )
    for choice in result.choices:
        assert choice.message.content in ITEMS
        assert choice.finish_reason == "stop"
        verdict = _verdict(choice)
        assert verdict["valid"] is True and verdict["kind"] == "choice_set"
        assert verdict["backend"] == "structserve-choice-trie"


def test_streamed_answer_is_an_item(gateway: Gateway, parts: str) -> None:
    stream = gateway.client().chat.completions.create(
        model=gateway.model,
        messages=PROMPT,  # type: ignore[arg-type]
        max_tokens=40,
        temperature=1.0,
        stream=True,
        extra_body={"structured_outputs": {"choice_set": parts}},
    )
    text, finish = "", None
    for chunk in stream:
        for choice in chunk.choices:
            text += choice.delta.content or ""
            finish = choice.finish_reason or finish
    assert text in ITEMS and finish == "stop"


def test_engine_reports_its_mask_time(gateway: Gateway, parts: str) -> None:
    """The logits processor runs in vLLM's engine-core process; its per-step mask time reaches
    the engine's /metrics (multiprocess mode, set up by the launcher) and the gateway's."""
    name = "structserve_choice_set_mask_seconds_count"
    before = gateway.engine_metric(name, direct=True)
    result = gateway.client().chat.completions.create(
        model=gateway.model,
        messages=PROMPT,  # type: ignore[arg-type]
        max_tokens=40,
        extra_body={"structured_outputs": {"choice_set": parts}},
    )
    steps = result.usage.completion_tokens if result.usage else 0
    assert steps > 0
    # One observation per decoding step with a choice-set row (other tests' rows may share it).
    assert gateway.engine_metric(name, direct=True) - before >= steps
    assert gateway.engine_metric("structserve_choice_set_masked_rows_total", direct=True) >= steps
    assert gateway.engine_metric(name) >= steps  # relabelled on the gateway's /metrics
    text = httpx.get(f"{gateway.base_url}/metrics", timeout=30).text
    assert 'structserve_choice_set_mask_seconds_bucket{le="0.0001",engine="' in text
    assert "vllm:generation_tokens_total{" in text


def test_inside_a_json_schema(gateway: Gateway, parts: str) -> None:
    """A property constrained to the set (`x-choice-set`) inside a strict structured answer."""
    schema = {
        "type": "object",
        "properties": {
            "part": {"type": "string", "x-choice-set": parts},
            "quantity": {"type": "integer", "minimum": 1, "maximum": 9},
        },
        "required": ["part", "quantity"],
        "additionalProperties": False,
    }
    fmt = {
        "type": "json_schema",
        "json_schema": {"name": "order", "schema": schema, "strict": True},
    }
    result = gateway.client().chat.completions.create(
        model=gateway.model,
        messages=[{"role": "user", "content": "Order a garden pump part as JSON."}],
        max_tokens=60,
        temperature=1.0,
        n=2,
        response_format=fmt,  # type: ignore[arg-type]
    )
    for choice in result.choices:
        answer = json.loads(choice.message.content or "")
        assert answer["part"] in ITEMS and 1 <= answer["quantity"] <= 9
        assert _verdict(choice)["valid"] is True


def test_completions_route(gateway: Gateway, parts: str) -> None:
    result = gateway.client().completions.create(
        model=gateway.model,
        prompt="Part number:",
        max_tokens=40,
        temperature=1.0,
        n=4,
        extra_body={"structured_outputs": {"choice_set": parts}},
    )
    assert all(choice.text in ITEMS for choice in result.choices)


def test_inline_choice_above_the_grammar_limit(gateway: Gateway) -> None:
    """2,100 inline choices take the choice-set path: llguidance's parser holds 2,000
    alternatives (with 2,100 on the grammar path the engine answered 500)."""
    options = [f"option number {i}" for i in range(2100)]
    result = gateway.client().chat.completions.create(
        model=gateway.model,
        messages=PROMPT,  # type: ignore[arg-type]
        max_tokens=40,
        extra_body={"structured_outputs": {"choice": options}},
    )
    choice = result.choices[0]
    assert choice.message.content in options
    assert _verdict(choice)["valid"] is True
    names = httpx.get(f"{gateway.base_url}/v1/choice_sets", timeout=30).json()["data"]
    assert not [s for s in names if s["name"].startswith("_")]  # inline sets are not listed


def test_a_new_gateway_keeps_the_sets(
    gateway: Gateway, parts: str, attach_gateway: Callable[..., Gateway]
) -> None:
    """Another gateway process over the same store (as after a restart) lists and uses them."""
    store = choice_sets_dir(gateway.log_path.parent)
    fresh = attach_gateway(
        "--choice-sets-dir", str(store), "--choice-sets-tokenizer", str(default_model_dir())
    )
    listed = httpx.get(f"{fresh.base_url}/v1/choice_sets/{parts}", timeout=30).json()
    assert listed["items"] == len(ITEMS)
    result = fresh.client().chat.completions.create(
        model=gateway.model,
        messages=PROMPT,  # type: ignore[arg-type]
        max_tokens=40,
        extra_body={"structured_outputs": {"choice_set": parts}},
    )
    assert result.choices[0].message.content in ITEMS


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        ({"name": "empty", "items": []}, 400, "items"),
        ({"name": "numbers", "items": ["a", 1]}, 400, "items"),
        ({"name": "bad name!", "items": ["a"]}, 400, "name"),
        ({"name": "long", "items": ["x" * 600]}, 413, "items"),
        ({"name": "special", "items": ["ok", "a<|im_end|>b"]}, 400, "items"),
    ],
)
def test_bad_registrations(gateway: Gateway, body: dict[str, Any], status: int, param: str) -> None:
    response = httpx.post(f"{gateway.base_url}/v1/choice_sets", json=body, timeout=30)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["param"] == param and error["message"]


def test_unknown_set_and_conflicts(gateway: Gateway, parts: str) -> None:
    client = gateway.client()
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(
            model=gateway.model,
            messages=PROMPT,  # type: ignore[arg-type]
            extra_body={"structured_outputs": {"choice_set": "no-such-set"}},
        )
    assert caught.value.body["param"] == "structured_outputs.choice_set"  # type: ignore[index]
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(
            model=gateway.model,
            messages=PROMPT,  # type: ignore[arg-type]
            extra_body={"structured_outputs": {"choice_set": parts, "regex": "a+"}},
        )
    other = httpx.post(
        f"{gateway.base_url}/v1/choice_sets", json={"name": parts, "items": ["x"]}, timeout=30
    )
    assert other.status_code == 409
    assert httpx.get(f"{gateway.base_url}/v1/choice_sets/nope", timeout=30).status_code == 404
    assert httpx.delete(f"{gateway.base_url}/v1/choice_sets/nope", timeout=30).status_code == 404


def test_text_and_multipart_uploads(gateway: Gateway) -> None:
    response = httpx.post(
        f"{gateway.base_url}/v1/choice_sets",
        params={"name": "it-upload"},
        content=b"alpha\nbeta\n\ngamma\n",
        headers={"content-type": "text/plain"},
        timeout=30,
    )
    assert response.status_code == 201 and response.json()["items"] == 3
    deleted = httpx.delete(f"{gateway.base_url}/v1/choice_sets/it-upload", timeout=30)
    assert deleted.json()["deleted"] is True
    form = httpx.post(
        f"{gateway.base_url}/v1/choice_sets",
        data={"name": "it-form"},
        files={"file": ("ids.txt", b"delta\nepsilon\n")},
        timeout=30,
    )
    assert form.status_code == 201 and form.json()["items"] == 2
    result = gateway.client().completions.create(
        model=gateway.model,
        prompt="Pick one:",
        max_tokens=10,
        extra_body={"structured_outputs": {"choice_set": "it-form"}},
    )
    assert result.choices[0].text in {"delta", "epsilon"}
    httpx.delete(f"{gateway.base_url}/v1/choice_sets/it-form", timeout=30)


def test_bench_choice_sets_runs_against_the_gateway(gateway: Gateway, tmp_path: Path) -> None:
    """`structserve bench choice-sets` end to end on a small set: the exactness row and a row
    with TPOT on both sides, no output outside the set."""
    out = tmp_path / "rows.json"
    argv = ["--url", gateway.base_url, "--sizes", "1000", "--concurrency", "2", "--rounds", "1"]
    argv += ["--exactness", "6", "--exactness-concurrency", "3"]
    assert bench_main([*argv, "--out", str(out)]) == 0
    checked, row = json.loads(out.read_text())
    assert checked["exactness_requests"] == 6 and checked["greedy"] == 2
    assert checked["not_members"] == 0 and checked["verdicts_not_valid"] == 0
    assert row["requests"] == 2 and row["not_members"] == 0 and row["verdicts_not_valid"] == 0
    assert row["tpot_ms_constrained"] > 0 and row["tpot_ms_unconstrained"] > 0
    httpx.delete(f"{gateway.base_url}/v1/choice_sets/bench-1000", timeout=30)
