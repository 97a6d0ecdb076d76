"""The composition corpus end to end: each pydantic model (as `response_format` json_schema strict
and through the client's `parse` with the model) and each hand-written composition answers 200
on the real engine, and every choice that finished with `stop` is valid (issue 15, hole 2).

All requests go out at once (the engine batches them); max_tokens is small, so a choice may end
with `length`: only `stop` carries the promise.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import jsonschema
import openai
import pytest
from pydantic import BaseModel, ValidationError

from tests.integration.gateways import Gateway
from tests.unit.server.structured.composition_corpus import HANDWRITTEN, corpus

MAX_TOKENS = 64
MODELS = corpus()
SCHEMAS: dict[str, tuple[type[BaseModel] | None, dict[str, Any]]] = {
    **MODELS,
    **{name: (None, schema) for name, (schema, _) in HANDWRITTEN.items()},
}


def _messages(name: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": f"Reply with one example {name} record as JSON."}]


def _create(client: openai.OpenAI, model: str, name: str) -> Any:
    spec = {"name": name, "schema": SCHEMAS[name][1], "strict": True}
    return client.chat.completions.create(
        model=model,
        messages=_messages(name),  # type: ignore[arg-type]
        response_format={"type": "json_schema", "json_schema": spec},  # type: ignore[arg-type,typeddict-item]
        max_tokens=MAX_TOKENS,
        temperature=0,
    )


def _parse(client: openai.OpenAI, model: str, name: str) -> Any:
    completions = client.chat.completions
    parse = getattr(completions, "parse", None) or client.beta.chat.completions.parse
    try:
        return parse(
            model=model,
            messages=_messages(name),  # type: ignore[arg-type]
            response_format=MODELS[name][0],
            max_tokens=MAX_TOKENS,
            temperature=0,
        )
    except openai.LengthFinishReasonError as exc:  # a 200 that ran out of tokens
        return exc.completion


CALLS: dict[str, Callable[[openai.OpenAI, str, str], Any]] = {"create": _create, "parse": _parse}
CASES = [(name, "create") for name in SCHEMAS] + [(name, "parse") for name in MODELS]


@pytest.fixture(scope="module")
def answers(gateway: Gateway) -> dict[tuple[str, str], Any]:
    """Every case's completion (or the exception it raised), requested concurrently."""
    client = gateway.client()

    def run(case: tuple[str, str]) -> Any:
        name, way = case
        try:
            return CALLS[way](client, gateway.model, name)
        except (openai.APIError, ValidationError) as exc:
            return exc

    with ThreadPoolExecutor(max_workers=8) as pool:
        done = dict(zip(CASES, pool.map(run, CASES), strict=True))
    reasons = Counter(
        getattr(c, "finish_reason", type(c).__name__)
        for answer in done.values()
        for c in getattr(answer, "choices", [answer])
    )
    print(f"composition corpus, {len(CASES)} requests: finish reasons {dict(reasons)}")
    return done


def _errors(name: str, text: str) -> list[str]:
    model, schema = SCHEMAS[name]
    try:
        instance = json.loads(text)
    except ValueError as exc:
        return [f"not JSON: {exc}"]
    validator = jsonschema.validators.validator_for(schema)
    checker = validator.FORMAT_CHECKER
    found = [e.message for e in validator(schema, format_checker=checker).iter_errors(instance)]
    if model is not None:
        try:
            model.model_validate_json(text)
        except ValidationError as exc:
            found.append(str(exc))
    return found


@pytest.mark.parametrize(("name", "way"), CASES)
def test_composition_answers_200_and_stop_means_valid(
    answers: dict[tuple[str, str], Any], name: str, way: str
) -> None:
    completion = answers[(name, way)]
    assert not isinstance(completion, Exception), repr(completion)
    for choice in completion.choices:
        text = choice.message.content or ""
        verdict = (choice.model_extra or {}).get("structured_output") or {}
        assert verdict.get("strict") is True
        if choice.finish_reason == "stop":
            assert _errors(name, text) == [], text
            assert verdict["valid"] is True
            if way == "parse":
                assert isinstance(choice.message.parsed, MODELS[name][0])
