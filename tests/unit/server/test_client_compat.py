"""`finish_reason: "schema_violation"` through the official clients: the Python `openai` package
and the Node `openai` package (plain create, streaming, typed parsing), against the gateway on a
local port over a scripted engine whose output breaks the schema."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pydantic
import pytest
import uvicorn

from server.app import build_app
from server.engines import EnginePool
from server.settings import Settings
from tests.prereq import cache_dir, require
from tests.unit.server.scripted_engine import make_scripted_engine

NODE_OPENAI = "6.30.1"  # the newest `openai` that supports Node 20 (7.x wants Node >= 22)
NODE_SCRIPT = Path(__file__).parent / "node" / "finish_reason.cjs"


class Person(pydantic.BaseModel):
    name: str


def _outputs(body: dict[str, Any], index: int) -> str:
    """ "extra": a key the strict schema forbids (pydantic and zod ignore it); "wrong": a number."""
    asked = body["messages"][-1]["content"]
    return '{"name":7}' if asked == "wrong" else '{"name":"Ann","extra":1}'


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    """The gateway on 127.0.0.1 (uvicorn in a thread) over the scripted engine."""
    transport = httpx.ASGITransport(app=make_scripted_engine(_outputs))
    pool = EnginePool(["http://engine-a"], client=httpx.AsyncClient(transport=transport))
    app = build_app(Settings(health_interval_s=0.05), pool)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    while httpx.get(f"{url}/ready").status_code != 200 and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"{url}/v1"
    server.should_exit = True
    thread.join(10)


def _client(base_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url, api_key="none", max_retries=0)


def _ask(content: str) -> list[Any]:
    return [{"role": "user", "content": content}]


def test_python_create_and_stream(base_url: str) -> None:
    client = _client(base_url)
    fmt: Any = {
        "type": "json_schema",
        "json_schema": {
            "name": "person",
            "strict": True,
            "schema": openai.pydantic_function_tool(Person)["function"]["parameters"],
        },
    }
    r = client.chat.completions.create(
        model="fake-model", messages=_ask("extra"), response_format=fmt
    )
    assert r.choices[0].finish_reason == "schema_violation"
    assert (r.choices[0].model_extra or {})["structured_output"]["valid"] is False
    chunks = list(
        client.chat.completions.create(
            model="fake-model", messages=_ask("extra"), response_format=fmt, stream=True
        )
    )
    assert chunks[-1].choices[0].finish_reason == "schema_violation"


def test_python_typed_parsing(base_url: str) -> None:
    client = _client(base_url)
    r = client.chat.completions.parse(
        model="fake-model", messages=_ask("extra"), response_format=Person
    )
    assert r.choices[0].finish_reason == "schema_violation"
    assert r.choices[0].message.parsed == Person(name="Ann")  # pydantic ignores the extra key
    with pytest.raises(pydantic.ValidationError):  # content the model rejects: as for "stop"
        client.chat.completions.parse(
            model="fake-model", messages=_ask("wrong"), response_format=Person
        )
    with client.chat.completions.stream(
        model="fake-model", messages=_ask("extra"), response_format=Person
    ) as stream:
        final = stream.get_final_completion()
    assert final.choices[0].finish_reason == "schema_violation"
    assert final.choices[0].message.parsed == Person(name="Ann")


def test_node_client(base_url: str) -> None:
    node = shutil.which("node")
    require(node is not None, "node (Node.js 20+) on PATH")
    prefix = Path(os.environ.get("STRUCTSERVE_NODE_DIR", cache_dir() / "node"))
    installed = prefix / "node_modules" / "openai" / "package.json"
    require(installed.is_file(), f"npm install --prefix {prefix} openai@{NODE_OPENAI} zod@4.6.7")
    env = {**os.environ, "BASE_URL": base_url, "NODE_PATH": str(prefix / "node_modules")}
    done = subprocess.run(
        [str(node), str(NODE_SCRIPT)], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr[-2000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["version"] == NODE_OPENAI, seen
    assert seen["create"] == {"finish_reason": "schema_violation", "valid": False}, seen
    assert seen["stream"] == {"finish_reason": "schema_violation"}, seen
    person = {"finish_reason": "schema_violation", "parsed": {"name": "Ann"}}
    assert seen["parse"] == person and seen["stream_helper"] == person, seen
    assert "error" in seen["parse_wrong_type"], seen  # zod rejects the content, as for "stop"
