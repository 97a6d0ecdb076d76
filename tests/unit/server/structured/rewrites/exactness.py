"""Shared checks for the rewrite tests: the JSON-Schema-Test-Suite token level through the
policy without its generation bounds, token-level acceptance, and grammar samples validated
against the client's original schema."""

from __future__ import annotations

import functools
import json
from typing import Any

import jsonschema

from bench.grammar_backends import Backend, StructServe, make
from bench.grammar_sampler import samples
from bench.schema_suite import UNBOUNDED, check_category, suite_dir, suite_files


@functools.cache
def backend() -> Backend:
    """The gateway's strict policy, without generation bounds, over llguidance (bytes); its
    workers are stopped by `close_backend` (rewrites/conftest.py) at the end of the session."""
    return make("structserve", None, UNBOUNDED)


def close_backend() -> None:
    """Stop the cached backend's compile and verdict workers, if it was made."""
    if backend.cache_info().currsize:
        made = backend()
        if isinstance(made, StructServe):
            made.service.close()
        backend.cache_clear()


def assert_category(name: str, passed: int) -> None:
    """One draft2020-12 suite category through the policy: no invalid instance accepted, and at
    least `passed` cases right (the measured number; more once other rewrites join)."""
    row = check_category(backend(), suite_files(suite_dir(), formats=False)[name])
    assert row["under"] == 0, row["under_cases"]
    assert row["passed"] >= passed, f"{name}: {row['passed']} of {row['cases']} right"


def accepts(schema: Any, *texts: str) -> list[bool]:
    """Whether the policy's grammar for `schema` accepts each text (compact JSON)."""
    compiled = backend().compile(schema)
    assert compiled.handle is not None, compiled.error
    return [backend().accepts(compiled, text) for text in texts]


def refused(schema: Any) -> bool:
    """Whether the strict policy refuses `schema`."""
    return backend().compile(schema).handle is None


def check_samples(schema: Any, count: int = 40, seed: int = 0) -> list[Any]:
    """Draw texts from the policy's grammar; each must be valid against the original schema."""
    compiled = backend().compile(schema)
    assert compiled.handle is not None, compiled.error
    drawn = [json.loads(text) for text in samples(compiled.handle, count, seed)]
    assert drawn
    for value in drawn:
        jsonschema.validate(value, schema, cls=jsonschema.Draft202012Validator)
    return drawn
