"""Everything the rewritten grammars allow is valid: random texts drawn from the policy's grammar
for every suite schema of the rewritten keyword families must pass the original schema; and
schemas of drafts that read these keywords differently are not rewritten."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

from bench.grammar_sampler import samples
from bench.schema_suite import suite_dir, suite_files
from server.structured.rewrites import rewrite_schema
from tests.unit.server.structured.rewrites.exactness import backend

CATEGORIES = ("propertyNames", "uniqueItems", "contains", "minContains", "maxContains",
              "unevaluatedProperties", "unevaluatedItems", "additionalProperties")  # fmt: skip


@pytest.mark.parametrize("name", CATEGORIES)
def test_grammar_samples_of_accepted_suite_schemas_are_valid(name: str) -> None:
    groups = json.loads(suite_files(suite_dir(), formats=False)[name].read_text())
    drawn = 0
    for group in groups:
        compiled = backend().compile(group["schema"])
        if compiled.handle is None:
            continue
        check = jsonschema.Draft202012Validator(group["schema"])
        for text in samples(compiled.handle, 12, seed=7):
            errors = [e.message for e in check.iter_errors(json.loads(text))]
            assert not errors, (group["description"], text, errors)
            drawn += 1
    assert drawn >= 12


DRAFT4 = "http://json-schema.org/draft-04/schema#"
DRAFT7 = "http://json-schema.org/draft-07/schema#"


@pytest.mark.parametrize(
    "schema",
    [
        {"$schema": DRAFT4, "propertyNames": {"const": "a"}},  # unknown before draft 6
        {"$schema": DRAFT7, "properties": {"a": {}}, "unevaluatedProperties": False},
        {"$schema": DRAFT7, "prefixItems": [{"const": 1}], "items": False, "uniqueItems": True},
        {"$schema": DRAFT7, "contains": {}, "minContains": 3},  # minContains unknown in draft 7
    ],
)
def test_keywords_another_draft_reads_differently_are_left_alone(schema: dict[str, Any]) -> None:
    assert rewrite_schema(schema) == schema
