"""Budget closing (issue 19) through the gateway and the real engine: a JSON answer that would be
cut at max_tokens ends instead with the shortest valid ending, inside the budget, as `stop`."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import jsonschema
import openai
import pytest

from bench.budget_closing import SCHEMA  # a long story, tags, a rating: outruns small budgets
from tests.integration.gateways import Gateway

PROMPT = "Write a long story about a dragon, as JSON."
BUDGET = 30


def _ask(gateway: Gateway, budget: int, **extra: Any) -> Any:
    return gateway.client().chat.completions.create(
        model=gateway.model,
        messages=[{"role": "user", "content": PROMPT}],
        response_format={  # type: ignore[arg-type]
            "type": "json_schema",
            "json_schema": {"name": "fruits", "schema": SCHEMA, "strict": True},
        },
        max_tokens=budget,
        temperature=0,
        extra_body=extra,
    )


def test_a_cut_answer_closes_valid_within_the_budget(gateway: Gateway) -> None:
    cut = _ask(gateway, BUDGET)
    assert cut.choices[0].finish_reason == "length"  # the prompt does outrun the budget
    with pytest.raises(json.JSONDecodeError):
        json.loads(cut.choices[0].message.content or "")

    closed = _ask(gateway, BUDGET, close_on_budget=True)
    choice = closed.choices[0]
    assert choice.finish_reason == "stop"
    assert closed.usage is not None and closed.usage.completion_tokens <= BUDGET
    document = json.loads(choice.message.content or "")
    jsonschema.validate(document, SCHEMA)
    verdict = (choice.model_extra or {})["structured_output"]
    assert verdict["valid"] is True and verdict["close_on_budget"] is True
    # the engine's marker said it closed; the marker itself is not shown
    assert verdict["closed_early"] is True and 1 <= verdict["closing_tokens"] < BUDGET
    assert (choice.model_extra or {}).get("stop_reason") is None
    assert "close_on_budget" not in (cut.choices[0].model_extra or {})["structured_output"]
    # the same greedy answer up to where the closing began
    head = (cut.choices[0].message.content or "")[:20]
    assert (choice.message.content or "").startswith(head)


def test_streaming_closes_the_same_way(gateway: Gateway) -> None:
    body = {
        "model": gateway.model,
        "messages": [{"role": "user", "content": PROMPT}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "f", "schema": SCHEMA}},
        "max_tokens": BUDGET,
        "temperature": 0,
        "close_on_budget": True,
        "stream": True,
    }
    text, finish, last = "", None, {}  # last: the choice that finished
    with httpx.stream(
        "POST", f"{gateway.base_url}/v1/chat/completions", json=body, timeout=120
    ) as response:
        for line in response.iter_lines():
            if not line.startswith("data: {"):
                continue
            for choice in json.loads(line[6:]).get("choices", []):
                text += choice.get("delta", {}).get("content") or ""
                finish = choice.get("finish_reason") or finish
                last = choice if choice.get("finish_reason") else last
    assert finish == "stop" and last.get("stop_reason") is None
    jsonschema.validate(json.loads(text), SCHEMA)
    verdict = last["structured_output"]
    assert verdict["closed_early"] is True and verdict["closing_tokens"] >= 1


def test_a_budget_below_the_shortest_document_is_a_400(gateway: Gateway) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        _ask(gateway, 3, close_on_budget=True)
    error = caught.value.body
    assert isinstance(error, dict) and error["code"] == "budget_below_minimum_document"
    assert error["param"] == "max_tokens" and "at least" in error["message"]
    with pytest.raises(openai.BadRequestError):
        _ask(gateway, BUDGET, close_on_budget="yes")  # a bool, strictly


def test_a_regex_answer_closes_to_a_whole_match(gateway: Gateway) -> None:
    """A regex the model's story outruns: cut, the text misses the final "."; closed, it ends
    with it and the whole answer matches."""
    pattern = r"[A-Za-z ,]+\."

    def ask(**extra: Any) -> Any:
        return gateway.client().completions.create(
            model=gateway.model,
            prompt="Once upon a time, in a land far away,",
            max_tokens=8,
            temperature=0,
            extra_body={"structured_outputs": {"regex": pattern}, **extra},
        )

    cut = ask().choices[0]
    assert cut.finish_reason == "length" and not re.fullmatch(pattern, cut.text)
    closed = ask(close_on_budget=True)
    choice = closed.choices[0]
    assert choice.finish_reason == "stop" and re.fullmatch(pattern, choice.text), choice.text
    assert closed.usage is not None and closed.usage.completion_tokens <= 8
    verdict = (choice.model_extra or {})["structured_output"]
    assert verdict["valid"] is True and verdict["closed_early"] is True
    assert choice.text.startswith(cut.text[:10])  # the same greedy text up to the closing
