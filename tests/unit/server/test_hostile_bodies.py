"""Hostile request bodies against the gateway (fake engine): each is a 4xx with OpenAI error JSON.

Wrong types, huge and deep documents, non-JSON and non-UTF-8 bytes, non-finite numbers, lone
surrogates, absurd sampling parameters. What only the engine can judge (context length, token
ids past the vocabulary) is in tests/integration/test_hostile.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.unit.server.inprocess import check_error_answer, gateway_client

CHAT = "/v1/chat/completions"
COMP = "/v1/completions"
MSGS = [{"role": "user", "content": "hi"}]
C: dict[str, Any] = {"model": "fake-model", "messages": MSGS}
P: dict[str, Any] = {"model": "fake-model", "prompt": "hi"}


def deep(depth: int, leaf: str = "1") -> str:
    """`depth` nested JSON arrays around `leaf`."""
    return "[" * depth + leaf + "]" * depth


def chat_with(raw_field: str) -> bytes:
    """A valid chat body plus one extra field given as raw JSON text."""
    return (
        '{"model":"fake-model","messages":[{"role":"user","content":"hi"}],' + raw_field + "}"
    ).encode()


def schema_nest(depth: int) -> str:
    return '{"type":"object","properties":{"a":' * depth + '{"type":"integer"}' + "}}" * depth


def j(body: Any) -> bytes:
    return json.dumps(body).encode()


# (route, raw body, expected status, expected param or None when the body as a whole is at fault)
CASES: dict[str, tuple[str, bytes, int, str | None]] = {
    # not JSON / not UTF-8 / not an object
    "empty": (CHAT, b"", 400, None),
    "not json": (CHAT, b"{model: x}", 400, None),
    "trailing data": (COMP, j(P) + b" trailing", 400, None),
    "utf-8 bom": (COMP, b"\xef\xbb\xbf" + j(P), 400, None),
    "invalid utf-8": (COMP, b'{"model":"fake-model","prompt":"\xc3\x28"}', 400, None),
    "utf-16": (COMP, json.dumps(P).encode("utf-16"), 400, None),
    "nul bytes": (COMP, b"\x00" * 64, 400, None),
    "raw control char": (COMP, b'{"model":"fake-model","prompt":"h\x01i"}', 400, None),
    "array": (CHAT, b"[1, 2]", 400, None),
    "null": (CHAT, b"null", 400, None),
    "string": (CHAT, b'"hello"', 400, None),
    # numbers JSON cannot carry onward
    "NaN extra field": (CHAT, chat_with('"x":NaN'), 400, None),
    "Infinity temperature": (CHAT, chat_with('"temperature":Infinity'), 400, None),
    "-Infinity extra": (CHAT, chat_with('"x":-Infinity'), 400, None),
    "1e400": (CHAT, chat_with('"x":1e400'), 400, None),
    "5000-digit integer": (CHAT, chat_with('"max_tokens":' + "9" * 5000), 400, None),
    "lone surrogate": (CHAT, chat_with('"user":"\\ud800"'), 400, None),
    "lone surrogate key": (CHAT, chat_with('"\\udfff":1'), 400, None),
    # depth: 100k levels must not become a RecursionError (500)
    "deep body 100k": (CHAT, deep(100_000).encode(), 400, None),
    "deep extra field 100k": (CHAT, chat_with('"x":' + deep(100_000)), 400, None),
    "deep extra field 300": (CHAT, chat_with('"x":' + deep(300)), 400, None),
    "deep content parts 100k": (
        CHAT,
        b'{"model":"fake-model","messages":[{"role":"user","content":['
        + b'{"a":' * 100_000
        + b"1"
        + b"}" * 100_000
        + b"]}]}",
        400,
        None,
    ),
    "deep schema 10k": (
        CHAT,
        chat_with(
            '"response_format":{"type":"json_schema","json_schema":{"name":"t","schema":'
            + schema_nest(10_000)
            + "}}"
        ),
        400,
        None,
    ),
    # wrong types
    "model null": (CHAT, j({**C, "model": None}), 400, "model"),
    "model empty": (CHAT, j({**C, "model": ""}), 400, "model"),
    "messages object": (CHAT, j({**C, "messages": {"role": "user"}}), 400, "messages"),
    "messages empty": (CHAT, j({**C, "messages": []}), 400, "messages"),
    "role unknown": (
        CHAT,
        j({**C, "messages": [{"role": "robot", "content": "x"}]}),
        400,
        "messages.0.role",
    ),
    "content int list": (
        CHAT,
        j({**C, "messages": [{"role": "user", "content": [1]}]}),
        400,
        "messages.0.content",
    ),
    "max_tokens string": (CHAT, j({**C, "max_tokens": "10"}), 400, "max_tokens"),
    "max_tokens float": (CHAT, j({**C, "max_tokens": 1.5}), 400, "max_tokens"),
    "stream string": (CHAT, j({**C, "stream": "true"}), 400, "stream"),
    "stop int": (CHAT, j({**C, "stop": 5}), 400, "stop"),
    "stop object": (CHAT, j({**C, "stop": {"a": 1}}), 400, "stop"),
    "prompt object": (COMP, j({**P, "prompt": {"a": 1}}), 400, "prompt"),
    "prompt bools": (COMP, j({**P, "prompt": [True]}), 400, "prompt"),
    "prompt empty list": (COMP, j({**P, "prompt": []}), 400, "prompt"),
    "logprobs bool on completions": (COMP, j({**P, "logprobs": True}), 400, "logprobs"),
    "response_format string": (CHAT, j({**C, "response_format": "json"}), 400, "response_format"),
    "stream_options without stream": (
        CHAT,
        j({**C, "stream_options": {"include_usage": True}}),
        400,
        "stream_options",
    ),
    # absurd values
    "max_tokens negative": (COMP, j({**P, "max_tokens": -5}), 400, "max_tokens"),
    "max_tokens zero": (COMP, j({**P, "max_tokens": 0}), 400, "max_tokens"),
    "max_completion_tokens negative": (
        CHAT,
        j({**C, "max_completion_tokens": -1}),
        400,
        "max_completion_tokens",
    ),
    "n zero": (CHAT, j({**C, "n": 0}), 400, "n"),
    "n negative": (CHAT, j({**C, "n": -3}), 400, "n"),
    "n 10^30": (CHAT, j({**C, "n": 10**30}), 400, "n"),
    "logprobs 10^20": (COMP, j({**P, "logprobs": 10**20}), 400, "logprobs"),
    "logprobs negative": (COMP, j({**P, "logprobs": -1}), 400, "logprobs"),
    "top_logprobs 21": (CHAT, j({**C, "logprobs": True, "top_logprobs": 21}), 400, "top_logprobs"),
    "top_logprobs without logprobs": (CHAT, j({**C, "top_logprobs": 3}), 400, "top_logprobs"),
    "temperature negative": (CHAT, j({**C, "temperature": -0.5}), 400, "temperature"),
    "temperature 1e308": (CHAT, j({**C, "temperature": 1e308}), 400, "temperature"),
    "top_p zero": (CHAT, j({**C, "top_p": 0}), 400, "top_p"),
    "presence_penalty 100": (CHAT, j({**C, "presence_penalty": 100}), 400, "presence_penalty"),
    "seed 2^64": (COMP, j({**P, "seed": 2**64}), 400, "seed"),
    "stop 10k items": (CHAT, j({**C, "stop": ["x"] * 10_000}), 400, "stop"),
    "stop empty string": (CHAT, j({**C, "stop": [""]}), 400, "stop"),
    # huge strings: refused by size or by name, never echoed whole
    "model 1 MB": (CHAT, j({**C, "model": "m" * 1_000_000}), 404, "model"),
    "body over limit": (COMP, j({**P, "prompt": "x" * (5 * 1024 * 1024)}), 413, None),
}


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with gateway_client() as tc:
        yield tc


@pytest.mark.parametrize(("route", "raw", "status", "param"), list(CASES.values()), ids=list(CASES))
def test_hostile_body_is_4xx_openai_error(
    client: TestClient, route: str, raw: bytes, status: int, param: str | None
) -> None:
    r = client.post(route, content=raw, headers={"content-type": "application/json"})
    check_error_answer(r)
    assert r.status_code == status, r.text[:300]
    assert r.json()["error"]["param"] == param
    assert len(r.content) < 4096  # errors never echo a huge input back


def test_gateway_serves_after_hostile_bodies(client: TestClient) -> None:
    for route, raw, _, _ in CASES.values():
        client.post(route, content=raw)
    r = client.post(CHAT, json={**C, "max_tokens": 3})
    assert (
        r.status_code == 200 and r.json()["choices"][0]["message"]["content"] == "alpha beta gamma"
    )
