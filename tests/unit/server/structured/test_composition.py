"""Every composition pattern of the corpus is accepted strict, and what the forwarded grammar
generates is valid for the client's schema and parses with the pydantic model."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from openai.lib._pydantic import to_strict_json_schema
from pydantic import BaseModel

from bench.grammar_sampler import samples
from grammar import llg
from server.structured import StructuredService
from server.structured.validate import schema_validator
from tests.unit.server.structured.composition_corpus import HANDWRITTEN, corpus
from tests.unit.server.structured.test_bounds import engine_accepts, plan_schema

MODELS = corpus()
SAMPLES = 15


def _invalid_samples(forwarded: dict[str, Any], schema: Any) -> list[tuple[str, str]]:
    validator = schema_validator(schema)
    found = []
    for text in samples(llg.serialize("json", forwarded), SAMPLES, seed=0):
        errors = [e.message for e in validator.iter_errors(json.loads(text))]
        if errors:
            found.append((text, errors[0]))
    return found


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("variant", ["pydantic", "openai-strict"])
def test_model_schema_accepted_strict(service: StructuredService, name: str, variant: str) -> None:
    model, schema = MODELS[name]
    if variant == "openai-strict":  # what client.chat.completions.parse sends
        schema = to_strict_json_schema(model)
    plan, _ = plan_schema(service, copy.deepcopy(schema))
    assert plan is not None and plan.strict and plan.unenforced == []


@pytest.mark.parametrize("name", list(MODELS))
def test_model_samples_valid_and_parse(service: StructuredService, name: str) -> None:
    model, schema = MODELS[name]
    _, forwarded = plan_schema(service, copy.deepcopy(schema))
    assert _invalid_samples(forwarded, schema) == []
    for text in samples(llg.serialize("json", forwarded), SAMPLES, seed=0):
        assert isinstance(model.model_validate_json(text), BaseModel)


@pytest.mark.parametrize("name", list(HANDWRITTEN))
def test_handwritten_composition(service: StructuredService, name: str) -> None:
    schema, example = HANDWRITTEN[name]
    assert schema_validator(schema).is_valid(example)
    plan, forwarded = plan_schema(service, copy.deepcopy(schema))
    assert plan is not None and plan.strict
    assert engine_accepts(forwarded, json.dumps(example, separators=(",", ":")))
    assert _invalid_samples(forwarded, schema) == []
