"""`echo: true` against the real engine: only the generated part is checked, for string prompts,
prompt lists with n > 1 and token-id prompts (whose echo the engine's /detokenize must match)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.integration.gateways import Gateway

DIGITS = {"regex": "[0-9]{1,4}"}


def _complete(gateway: Gateway, prompt: Any, **kw: Any) -> list[Any]:
    out = gateway.client().completions.create(
        model=gateway.model,
        prompt=prompt,
        echo=True,
        max_tokens=6,
        temperature=kw.pop("temperature", 0),
        extra_body={"structured_outputs": DIGITS},
        **kw,
    )
    return sorted(out.choices, key=lambda c: c.index)


def _verdict(choice: Any) -> dict[str, Any]:
    return dict((choice.model_extra or {})["structured_output"])


def _tokens(gateway: Gateway, text: str) -> list[int]:
    body = {"model": gateway.model, "prompt": text, "add_special_tokens": False}
    answer = httpx.post(f"{gateway.engine_url}/tokenize", json=body, timeout=30)
    return list(answer.json()["tokens"])


@pytest.mark.parametrize("n", [1, 2])
def test_echoed_string_prompts(gateway: Gateway, n: int) -> None:
    prompts = ["The year the war ended, as digits: ", "Pick a number: "]
    sampled: dict[str, Any] = {"temperature": 0.8, "seed": 0} if n > 1 else {}
    choices = _complete(gateway, prompts, n=n, **sampled)
    assert len(choices) == 2 * n
    for choice in choices:
        prompt = prompts[choice.index // n]
        assert choice.text.startswith(prompt)
        verdict = _verdict(choice)
        assert verdict["checked"] is True, verdict
        assert verdict["valid"] is (choice.finish_reason == "stop"), (choice.text, verdict)


def test_echoed_token_id_prompt(gateway: Gateway) -> None:
    """A prompt whose decoding is not its source text (leading blank, multi-byte characters)."""
    tokens = _tokens(gateway, "  Ünïcode prompt — the number: ")
    [choice] = _complete(gateway, tokens)
    verdict = _verdict(choice)
    assert verdict["checked"] is True, (choice.text, verdict)
    assert verdict["valid"] is (choice.finish_reason == "stop"), (choice.text, verdict)
    [streamed] = list(
        gateway.client().completions.create(
            model=gateway.model,
            prompt=tokens,
            echo=True,
            max_tokens=6,
            temperature=0,
            stream=True,
            extra_body={"structured_outputs": DIGITS},
        )
    )[-1:]
    assert _verdict(streamed.choices[0])["checked"] is True
