import json

import jsonschema

from bench.grammar_sampler import samples
from grammar import llg


def test_samples_are_in_the_language_and_distinct() -> None:
    schema = {
        "type": "object",
        "properties": {"a": {"type": "integer", "minimum": 3}, "b": {"enum": ["x", "y"]}},
        "required": ["a", "b"],
        "additionalProperties": False,
    }
    drawn = samples(llg.serialize("json", schema), 20, seed=1)
    assert len(drawn) == len(set(drawn)) >= 10
    for text in drawn:
        jsonschema.validate(json.loads(text), schema)


def test_a_finite_language_is_exhausted_not_padded() -> None:
    drawn = samples(llg.serialize("regex", "a|b|c"), 50, seed=0)
    assert sorted(drawn) == ["a", "b", "c"]
