"""`echo: true`: only the generated part of each choice is checked, never the echoed prompt."""

from __future__ import annotations

import json
from typing import Any

import pytest

from server.echo import NOT_SEPARATED, generated_part
from tests.unit.server.scripted_engine import detokenize, make_scripted_engine

DIGITS = {"regex": "[0-9]+"}


def _outputs(body: dict[str, Any], index: int) -> str:
    return "abc" if index == 3 else str(40 + index)  # choice 3 breaks the regex


async def _verdicts(make_gateway, body: dict[str, Any]) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    gw, _, _ = await make_gateway({"engine-a": make_scripted_engine(_outputs)})
    r = await gw.post("/v1/completions", json={"model": "fake-model", **body})
    assert r.status_code == 200, r.text
    if not body.get("stream"):
        return sorted(r.json()["choices"], key=lambda c: c["index"])
    texts: dict[int, str] = {}
    last: dict[int, dict[str, Any]] = {}
    for line in r.text.splitlines():
        if line.startswith("data: {"):
            for choice in json.loads(line[6:])["choices"]:
                texts[choice["index"]] = texts.get(choice["index"], "") + choice["text"]
                last[choice["index"]] = {**choice, "text": texts[choice["index"]]}
    return [last[i] for i in sorted(last)]


@pytest.mark.parametrize("stream", [False, True])
async def test_echoed_string_prompt_is_not_validated(make_gateway, stream: bool) -> None:  # type: ignore[no-untyped-def]
    prompt = "Pick a number: "
    body = {"prompt": prompt, "echo": True, "structured_outputs": DIGITS, "stream": stream}
    [choice] = await _verdicts(make_gateway, body)
    assert choice["text"] == prompt + "40"  # the client still gets its echo
    assert choice["structured_output"]["valid"] is True and choice["finish_reason"] == "stop"


@pytest.mark.parametrize("stream", [False, True])
async def test_prompt_list_with_n_maps_choices_to_prompts(make_gateway, stream: bool) -> None:  # type: ignore[no-untyped-def]
    body = {"prompt": ["one ", "two "], "n": 2, "echo": True, "structured_outputs": DIGITS}
    choices = await _verdicts(make_gateway, {**body, "stream": stream})
    assert [c["text"][:4] for c in choices] == ["one ", "one ", "two ", "two "]
    assert [c["structured_output"]["valid"] for c in choices] == [True, True, True, False]
    assert [c["finish_reason"] for c in choices] == ["stop"] * 3 + ["schema_violation"]


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("prompt", [[1, 2, 3], [[1, 2], [3]]])
async def test_token_id_prompts_are_detokenized_by_the_engine(
    make_gateway, stream: bool, prompt: Any
) -> None:  # type: ignore[no-untyped-def]
    body = {"prompt": prompt, "echo": True, "structured_outputs": DIGITS, "stream": stream}
    choices = await _verdicts(make_gateway, body)
    first = prompt if isinstance(prompt[0], int) else prompt[0]
    assert choices[0]["text"] == detokenize(first) + "40"
    assert all(c["structured_output"]["valid"] is True for c in choices)


def test_a_prefix_that_does_not_match_is_unchecked() -> None:
    assert generated_part("Q: 42", ["Q: "], 0, 1) == "42"
    assert generated_part("X: 42", ["Q: "], 0, 1) is None
    assert generated_part("42", [None], 0, 1) is None  # the engine could not detokenize
    assert generated_part("42", None, 5, 3) == "42"
    assert generated_part("B42", ["A", "B"], 3, 2) == "42"
    assert NOT_SEPARATED.startswith("unchecked: ")


async def test_chat_echo_of_the_assistant_prefix(make_gateway) -> None:  # type: ignore[no-untyped-def]
    gw, _, _ = await make_gateway({"engine-a": make_scripted_engine(_outputs)})
    messages = [{"role": "user", "content": "n?"}, {"role": "assistant", "content": "n = "}]
    body = {"model": "fake-model", "messages": messages, "echo": True, "structured_outputs": DIGITS}
    choice = (await gw.post("/v1/chat/completions", json=body)).json()["choices"][0]
    assert choice["message"]["content"] == "n = 40"
    assert choice["structured_output"]["valid"] is True and choice["finish_reason"] == "stop"
