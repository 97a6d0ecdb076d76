"""Random compositions of `not`, `if`/`then`/`else` and dependencies over the keywords the
rewrites complement: every value of a corpus is accepted iff valid (objects whose keys the backend
orders differently excepted), and every grammar sample is valid against the original schema."""

from __future__ import annotations

import json
import random
from typing import Any

import jsonschema
import pytest

from bench.grammar_sampler import samples
from tests.unit.server.structured.rewrites.exactness import backend
from tests.unit.server.structured.rewrites.language import CORPUS, text

VALUES: list[Any] = [None, True, False, 0, 1, 2, -1, 1.5, "", "a", "ab", 'q"', "\\", [], [1],
                     [1, "a"], {}, {"a": 1}, {"a": "x"}, {"b": 1}]  # fmt: skip
SIMPLE = ["type", "const", "enum", "required", "minimum", "exclusiveMaximum", "maxLength"]
NESTED = [*SIMPLE, "minItems", "maxProperties", "properties", "anyOf", "allOf", "not"]


def _keyword(rng: random.Random, depth: int) -> dict[str, Any]:
    key = rng.choice(NESTED if depth < 2 else SIMPLE)
    if key == "type":
        return {key: rng.sample(["null", "boolean", "object", "array", "number", "string"], 2)}
    if key in ("const", "enum"):
        return {key: rng.choice(VALUES) if key == "const" else rng.sample(VALUES, 3)}
    if key == "required":
        return {key: rng.sample(["a", "b"], rng.randint(1, 2))}
    if key in ("minimum", "exclusiveMaximum"):
        return {key: rng.choice([0, 1, 1.5, -1])}
    if key in ("maxLength", "minItems", "maxProperties"):
        return {key: rng.randint(0, 2)}
    if key == "properties":
        return {key: {rng.choice("ab"): _schema(rng, depth + 1)}}
    if key == "not":
        return {key: _schema(rng, depth + 1)}
    return {key: [_schema(rng, depth + 1) for _ in range(rng.randint(1, 2))]}


def _schema(rng: random.Random, depth: int = 0) -> dict[str, Any]:
    schema: dict[str, Any] = {}
    for _ in range(rng.randint(1, 2)):
        schema.update(_keyword(rng, depth))
    return schema


def _composed(rng: random.Random) -> dict[str, Any]:
    inner = _schema(rng)
    shape = rng.randrange(4)
    if shape == 0:
        return {"not": inner}
    if shape == 1:
        return {"if": inner, "then": _schema(rng, 1), "else": _schema(rng, 1)}
    if shape == 2:
        return {"dependentSchemas": {"a": inner}, "dependentRequired": {"b": ["a"]}}
    return {"not": {"if": inner, "then": _schema(rng, 1)}}


@pytest.mark.parametrize("seed", range(3))
def test_random_compositions_are_exact(seed: int) -> None:
    rng = random.Random(seed)
    checked = 0
    for index in range(12):
        schema = _composed(rng)
        compiled = backend().compile(schema)
        if compiled.handle is None:
            continue  # left in place (no exact form): refused, which is safe
        checked += 1
        valid = jsonschema.Draft202012Validator(schema).is_valid
        for sample in samples(compiled.handle, 8, seed=index):
            assert valid(json.loads(sample)), (schema, sample)
        for value in CORPUS + VALUES:
            accepted = backend().accepts(compiled, text(value))
            if accepted != valid(value):
                reordered = valid(value) and isinstance(value, dict) and len(value) > 1
                assert reordered, (schema, value)
    assert checked >= 6
