"""Request validation, and engine status codes mapped back to typed errors."""

from __future__ import annotations

import pytest

from server.errors import InvalidRequest, from_status
from server.protocol import ChatCompletionRequest, CompletionRequest, parse_request

MSG = [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"messages": MSG}, "model"),
        ({"model": "m", "messages": MSG, "stream": "yes"}, "stream"),
        ({"model": "m", "messages": MSG, "top_p": 0}, "top_p"),
        ({"model": "m", "messages": MSG, "stop": [""]}, "stop"),
        (
            {"model": "m", "messages": MSG, "stream_options": {"include_usage": True}},
            "stream_options",
        ),
        ({"model": "m", "messages": MSG, "max_completion_tokens": -5}, "max_completion_tokens"),
        ({"model": "m", "messages": MSG, "presence_penalty": 3}, "presence_penalty"),
    ],
)
def test_chat_rejections_name_the_param(body: dict, param: str) -> None:
    with pytest.raises(InvalidRequest) as err:
        parse_request(ChatCompletionRequest, body)
    assert err.value.param == param


def test_completion_prompt_forms_and_extras() -> None:
    for prompt in ("x", ["a", "b"], [1, 2], [[1], [2]]):
        parse_request(CompletionRequest, {"model": "m", "prompt": prompt, "ignore_eos": True})
    with pytest.raises(InvalidRequest) as err:
        parse_request(CompletionRequest, {"model": "m", "prompt": []})
    assert err.value.param == "prompt"
    with pytest.raises(InvalidRequest):
        parse_request(CompletionRequest, ["not", "an", "object"])


def test_from_status_maps_engine_codes() -> None:
    assert from_status(400, "x").status_code == 400
    assert from_status(422, "x").status_code == 400
    assert from_status(404, "x").error_type == "not_found_error"
    assert from_status(500, "x").status_code == 502
    assert from_status(418, "x").status_code == 400
