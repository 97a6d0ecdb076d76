"""/v1/choice_sets and choice-set requests in the gateway, over a fake engine: the resource's
statuses and errors, the per-route body limit, what is forwarded to the engine (vllm_xargs, no
structured_outputs), and the verdict (an output that is not an item is a schema violation)."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest

from choice_sets.store import XARG
from tests.prereq import default_model_dir, require
from tests.unit.server.conftest import GatewayFactory
from tests.unit.server.fake_engine import WORDS, make_engine

pytestmark = pytest.mark.asyncio


@pytest.fixture
def tokenizer_folder() -> Path:
    folder = default_model_dir()
    require((folder / "tokenizer.json").is_file(), "the default model (structserve models pull)")
    return folder


async def _gateway(make_gateway: GatewayFactory, tokenizer_folder: Path, **kw: Any) -> Any:
    engine = make_engine()
    gw, app, _ = await make_gateway(
        {"engine-a": engine}, choice_sets_tokenizer=tokenizer_folder, **kw
    )
    return gw, app, engine


async def test_register_read_list_delete(
    make_gateway: GatewayFactory, tokenizer_folder: Path
) -> None:
    gw, _, _ = await _gateway(make_gateway, tokenizer_folder)
    created = await gw.post("/v1/choice_sets", json={"name": "c", "items": ["a", "b", "a"]})
    assert created.status_code == 201
    assert created.json()["items"] == 2 and created.json()["duplicates_dropped"] == 1
    again = await gw.post("/v1/choice_sets", json={"name": "c", "items": ["b", "a"]})
    assert again.status_code == 200 and again.json() == created.json()
    conflict = await gw.post("/v1/choice_sets", json={"name": "c", "items": ["z"]})
    assert conflict.status_code == 409 and conflict.json()["error"]["code"] == "choice_set_exists"
    assert (await gw.get("/v1/choice_sets/c")).json()["digest"] == created.json()["digest"]
    assert [s["name"] for s in (await gw.get("/v1/choice_sets")).json()["data"]] == ["c"]
    assert (await gw.delete("/v1/choice_sets/c")).json() == {
        "id": "c",
        "object": "choice_set",
        "deleted": True,
    }
    missing = await gw.get("/v1/choice_sets/c")
    assert missing.status_code == 404 and missing.json()["error"]["type"] == "not_found_error"


async def test_text_upload_and_its_own_body_limit(
    make_gateway: GatewayFactory, tokenizer_folder: Path
) -> None:
    gw, _, _ = await _gateway(
        make_gateway, tokenizer_folder, max_body_bytes=1024, choice_set_max_body_bytes=64 * 1024
    )
    text = "\n".join(f"item-{i:05d}" for i in range(2000))  # ~22 KB: over the general limit
    up = await gw.post(
        "/v1/choice_sets",
        params={"name": "big"},
        content=text,
        headers={"content-type": "text/plain"},
    )
    assert up.status_code == 201 and up.json()["items"] == 2000
    too_big = await gw.post(
        "/v1/choice_sets",
        params={"name": "huge"},
        content=text * 4,
        headers={"content-type": "text/plain"},
    )
    assert too_big.status_code == 413
    chat = await gw.post("/v1/chat/completions", content=b"{" + b" " * 2048 + b"}")
    assert chat.status_code == 413  # other routes keep max_body_bytes


async def test_multipart_file_upload(make_gateway: GatewayFactory, tokenizer_folder: Path) -> None:
    gw, _, _ = await _gateway(make_gateway, tokenizer_folder)
    text = "\n".join(f"part-{i:04d}" for i in range(500)) + "\n\n"
    up = await gw.post(
        "/v1/choice_sets", data={"name": "form"}, files={"file": ("parts.txt", text.encode())}
    )
    assert up.status_code == 201 and up.json()["name"] == "form" and up.json()["items"] == 500
    by_query = await gw.post(
        "/v1/choice_sets", params={"name": "q"}, files={"file": ("a.txt", b"x\ny\n")}
    )
    assert by_query.status_code == 201 and by_query.json()["items"] == 2
    no_file = await gw.post("/v1/choice_sets", data={"name": "n"}, files={"other": ("a", b"x")})
    assert no_file.status_code == 400 and no_file.json()["error"]["param"] == "file"
    latin = await gw.post("/v1/choice_sets", data={"name": "l"}, files={"file": ("a", b"\xff")})
    assert latin.status_code == 400 and "UTF-8" in latin.json()["error"]["message"]
    broken = await gw.post(
        "/v1/choice_sets",
        content=b"--zz\r\nnot a part",
        headers={"content-type": "multipart/form-data; boundary=zz"},
    )
    assert broken.status_code == 400 and broken.json()["error"]["type"] == "invalid_request_error"


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        ({"name": "e", "items": []}, 400, "items"),
        ({"name": "e", "items": [1]}, 400, "items"),
        ({"name": "e/../x", "items": ["a"]}, 400, "name"),
        ({"items": ["a"]}, 400, "name"),
        ({"name": "_inline-abc", "items": ["a"]}, 400, "name"),
        ({"name": "e", "items": ["a"], "extra": 1}, 400, "extra"),
        ({"name": "e", "items": ["a<|im_end|>"]}, 400, "items"),
    ],
)
async def test_bad_registrations(
    make_gateway: GatewayFactory,
    tokenizer_folder: Path,
    body: dict[str, Any],
    status: int,
    param: str,
) -> None:
    gw, _, _ = await _gateway(make_gateway, tokenizer_folder)
    response = await gw.post("/v1/choice_sets", json=body)
    assert response.status_code == status
    assert response.json()["error"]["param"] == param


async def test_limits_are_413(make_gateway: GatewayFactory, tokenizer_folder: Path) -> None:
    gw, _, _ = await _gateway(make_gateway, tokenizer_folder, choice_set_max_items=3)
    response = await gw.post("/v1/choice_sets", json={"name": "m", "items": list("abcd")})
    assert (
        response.status_code == 413 and response.json()["error"]["code"] == "choice_set_too_large"
    )


async def test_request_is_forwarded_with_the_trie_and_checked(
    make_gateway: GatewayFactory, tokenizer_folder: Path
) -> None:
    gw, app, engine = await _gateway(make_gateway, tokenizer_folder)
    await gw.post("/v1/choice_sets", json={"name": "c", "items": ["x", "y"]})
    body = {
        "model": "fake-model",
        "messages": [{"role": "user", "content": "pick"}],
        "structured_outputs": {"choice_set": "c"},
        "vllm_xargs": {"other": 1},
    }
    answer = await gw.post("/v1/chat/completions", json=body)
    assert answer.status_code == 200
    sent = engine.state.bodies[-1]
    assert "structured_outputs" not in sent and sent["vllm_xargs"]["other"] == 1
    reference = sent["vllm_xargs"][XARG]
    assert (
        reference.startswith("c/compiled/")
        and (app.state.choice_sets.store.root / reference).is_file()
    )
    choice = answer.json()["choices"][0]
    assert choice["message"]["content"].startswith(WORDS[0])  # the fake engine ignores the set
    assert choice["structured_output"]["valid"] is False  # ... and the verdict says so
    assert choice["structured_output"]["kind"] == "choice_set"


async def test_inline_choice_above_the_limit_becomes_a_set(
    make_gateway: GatewayFactory, tokenizer_folder: Path
) -> None:
    gw, _, engine = await _gateway(make_gateway, tokenizer_folder)
    options = [f"option {i}" for i in range(2001)]  # llguidance's parser takes 2,000
    body = {"model": "fake-model", "prompt": "p", "structured_outputs": {"choice": options}}
    assert (await gw.post("/v1/completions", json=body)).status_code == 200
    assert engine.state.bodies[-1]["vllm_xargs"][XARG].startswith("_inline-")
    assert (await gw.get("/v1/choice_sets")).json()["data"] == []
    small = {"model": "fake-model", "prompt": "p", "structured_outputs": {"choice": options[:2000]}}
    assert (await gw.post("/v1/completions", json=small)).status_code == 200
    assert "vllm_xargs" not in engine.state.bodies[-1]  # the grammar path, as before


@pytest.mark.parametrize(
    ("outputs", "status"),
    [
        ({"choice_set": "nope"}, 404),
        ({"choice_set": 5}, 400),
        ({"choice_set": "c", "regex": "a"}, 400),
    ],
)
async def test_bad_uses(
    make_gateway: GatewayFactory, tokenizer_folder: Path, outputs: dict[str, Any], status: int
) -> None:
    gw, _, engine = await _gateway(make_gateway, tokenizer_folder)
    await gw.post("/v1/choice_sets", json={"name": "c", "items": ["x"]})
    before = len(engine.state.bodies)
    body = {"model": "fake-model", "prompt": "p", "structured_outputs": outputs}
    response = await gw.post("/v1/completions", json=body)
    assert response.status_code == status and response.json()["error"]["param"].startswith(
        "structured_outputs"
    )
    assert len(engine.state.bodies) == before  # never forwarded


async def test_without_a_tokenizer_sets_store_but_cannot_be_used(
    make_gateway: GatewayFactory,
) -> None:
    gw, _, _ = await make_gateway({"engine-a": make_engine()})  # --engine-url, no tokenizer
    assert (await gw.post("/v1/choice_sets", json={"name": "c", "items": ["x"]})).status_code == 201
    body = {"model": "fake-model", "prompt": "p", "structured_outputs": {"choice_set": "c"}}
    response = await gw.post("/v1/completions", json=body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "choice_sets_unavailable"


async def test_schema_property_from_a_set_is_forwarded_as_enum(
    make_gateway: GatewayFactory, tokenizer_folder: Path
) -> None:
    gw, _, engine = await _gateway(make_gateway, tokenizer_folder)
    items = [f"SKU-{i:05d}" for i in range(5000)]  # above the 4,096 enum limit of client schemas
    await gw.post("/v1/choice_sets", json={"name": "skus", "items": items})
    schema = {
        "type": "object",
        "properties": {"sku": {"type": "string", "x-choice-set": "skus"}},
        "required": ["sku"],
    }
    fmt = {"type": "json_schema", "json_schema": {"name": "o", "schema": schema, "strict": True}}
    body = {"model": "fake-model", "prompt": "p", "response_format": fmt}
    answer = await gw.post("/v1/completions", json=body)
    assert answer.status_code == 200, answer.text
    sent = engine.state.bodies[-1]["response_format"]["json_schema"]["schema"]
    assert sent["properties"]["sku"]["enum"] == items and "x-choice-set" not in str(sent)
    verdict = answer.json()["choices"][0]["structured_output"]
    assert verdict["kind"] == "json_schema" and verdict["valid"] is False  # fake text
    schema["properties"]["sku"]["x-choice-set"] = "nope"
    missing = await gw.post("/v1/completions", json=body)
    assert missing.status_code == 404
    assert missing.json()["error"]["param"] == "response_format.json_schema.schema"


async def test_registrations_beyond_the_build_limit_get_429(
    make_gateway: GatewayFactory, tokenizer_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While one registration builds (held in the store), a second gets 429 with Retry-After
    and OpenAI error JSON; once the first is done the slot is free again."""
    gw, app, _ = await _gateway(make_gateway, tokenizer_folder, choice_set_max_builds=1)
    store = app.state.choice_sets.store
    building, release = threading.Event(), threading.Event()
    create = store.create

    def held_create(*args: Any, **kwargs: Any) -> Any:
        building.set()
        release.wait(10)
        return create(*args, **kwargs)

    monkeypatch.setattr(store, "create", held_create)
    first = asyncio.create_task(gw.post("/v1/choice_sets", json={"name": "a", "items": ["x"]}))
    assert await asyncio.to_thread(building.wait, 10)
    busy = await gw.post("/v1/choice_sets", json={"name": "b", "items": ["y"]})
    assert busy.status_code == 429 and busy.headers["retry-after"] == "10"
    assert busy.json()["error"]["code"] == "choice_set_builds_busy"
    assert busy.json()["error"]["type"] == "rate_limit_error"
    release.set()
    assert (await first).status_code == 201
    assert (await gw.post("/v1/choice_sets", json={"name": "b", "items": ["y"]})).status_code == 201
    failed = await gw.post("/v1/choice_sets", json={"name": "c", "items": []})
    assert failed.status_code == 400  # a refused registration frees its slot too
    assert (await gw.post("/v1/choice_sets", json={"name": "c", "items": ["z"]})).status_code == 201
