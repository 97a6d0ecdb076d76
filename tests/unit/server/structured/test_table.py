"""The keyword/format table (server/structured/keywords.py) is verified against the token-level
JSON-Schema-Test-Suite (draft2020-12 with `optional/format`), fed byte by byte through what the
strict policy forwards to llguidance: no invalid instance may be accepted in any category."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from bench.grammar_backends import StructServe, make
from bench.schema_suite import UNBOUNDED, check_category, suite_dir, suite_files
from server.structured import StructuredLimits
from server.structured.keywords import FORMATS, UNENFORCED
from server.structured.validate import schema_validator

LIMITS = {"unbounded": UNBOUNDED, "default": StructuredLimits()}


@pytest.fixture(scope="module")
def files() -> dict[str, Path]:
    try:
        return suite_files(suite_dir())
    except subprocess.CalledProcessError as exc:  # no cached sdist and no network
        pytest.skip(f"JSON-Schema-Test-Suite unavailable: {exc}")


@pytest.fixture(scope="module")
def suite(files: dict[str, Path]) -> Iterator[dict[str, dict[str, dict[str, Any]]]]:
    """limits name -> category -> row (check_category), both runs once per module."""
    results = {}
    for name, limits in LIMITS.items():
        backend = make("structserve", None, limits)
        assert isinstance(backend, StructServe)
        try:
            results[name] = {cat: check_category(backend, path) for cat, path in files.items()}
        finally:
            backend.service.close()
    yield results


@pytest.mark.parametrize("limits", sorted(LIMITS))
def test_no_category_is_under_constrained(
    suite: dict[str, dict[str, dict[str, Any]]], limits: str
) -> None:
    rows = suite[limits]
    assert any(name.startswith("format/") for name in rows)  # optional/format is included
    under = {name: row["under_cases"] for name, row in rows.items() if row["under"]}
    assert under == {}


def test_enforced_formats_are_verified(suite: dict[str, dict[str, dict[str, Any]]]) -> None:
    checked = jsonschema.Draft202012Validator.FORMAT_CHECKER.checkers
    assert sorted(FORMATS - set(checked)) == []  # enforcing an unasserted format proves nothing
    for rows in suite.values():
        for name in FORMATS:
            row = rows[f"format/{name}"]
            assert row["under"] == 0 and row["refused_groups"] == 0, name
    assert all(
        rows["format/date"]["passed"] == rows["format/date"]["cases"] for rows in suite.values()
    )


def test_keywords_called_enforced_are_not_under_constrained(
    suite: dict[str, dict[str, dict[str, Any]]],
) -> None:
    # core categories are named after their keyword (`minLength`, `uniqueItems`, ...)
    for rows in suite.values():
        enforced = [name for name in rows if "/" not in name and name not in UNENFORCED]
        assert len(enforced) > 20
        assert [name for name in enforced if rows[name]["under"]] == []


def _accepted_but_invalid(backend: StructServe, name: str, path: Path) -> Iterator[str]:
    for group in json.loads(path.read_text()):
        grammar = backend.compile(group["schema"])
        if grammar.handle is None:
            continue
        validator = schema_validator(group["schema"])
        for case in group["tests"]:
            text = json.dumps(case["data"], separators=(",", ":"))
            if backend.accepts(grammar, text) and not validator.is_valid(case["data"]):
                yield f"{name}: {group['description']}: {case['description']}"


def test_every_accepted_suite_instance_passes_the_gateways_validator(
    files: dict[str, Path],
) -> None:
    # the suite's `valid` flags are not the gateway's validator (leap seconds, say), and `stop`
    # means valid by the validator: an accepted instance must pass it
    backend = make("structserve", None, UNBOUNDED)  # the bounds only narrow this language
    assert isinstance(backend, StructServe)
    try:
        wrong = [
            bad
            for name, path in files.items()
            for bad in _accepted_but_invalid(backend, name, path)
        ]
    finally:
        backend.service.close()
    assert wrong == []
