"""Every format the policy calls enforced forwards a grammar whose strings all pass the gateway's
validator (jsonschema FORMAT_CHECKER with the `jsonschema[format]` extras)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest

from bench.grammar_backends import Compiled, StructServe, make
from bench.grammar_sampler import samples
from bench.schema_suite import UNBOUNDED
from server.structured.keywords import FORMATS, format_checkers, format_status
from server.structured.rewrites import rewrite_schema
from server.structured.rewrites.formats import HOSTNAME_MAX_LENGTH, PATTERNS
from server.structured.validate import schema_validator

CHECKER = jsonschema.Draft202012Validator.FORMAT_CHECKER


@pytest.fixture(scope="module")
def gateway() -> Iterator[StructServe]:
    backend = make("structserve", None, UNBOUNDED)
    assert isinstance(backend, StructServe)
    yield backend
    backend.service.close()


def compiled(gateway: StructServe, schema: Any) -> Compiled:
    result = gateway.compile(schema)
    assert result.handle is not None, result.error
    return result


def accepted(gateway: StructServe, schema: Any, values: list[Any]) -> list[Any]:
    grammar = compiled(gateway, schema)
    return [v for v in values if gateway.accepts(grammar, json.dumps(v, separators=(",", ":")))]


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_every_sample_of_an_enforced_format_passes_the_validator(
    gateway: StructServe, name: str
) -> None:
    schema = {"type": "string", "format": name}
    validator = schema_validator(schema)
    drawn = samples(compiled(gateway, schema).handle, 300, seed=sorted(FORMATS).index(name))
    assert len(drawn) >= 100
    assert [text for text in drawn if not validator.is_valid(json.loads(text))] == []


def test_leap_years_and_month_lengths(gateway: StructServe) -> None:
    days = ["2023-02-29", "2024-02-29", "1900-02-29", "2000-02-29", "2024-04-31", "0000-01-01"]
    assert accepted(gateway, {"type": "string", "format": "date"}, days) == [
        "2024-02-29",
        "2000-02-29",
    ]
    stamps = [f"{day}T12:00:00Z" for day in days] + ["2024-01-01T23:59:60Z"]
    assert accepted(gateway, {"type": "string", "format": "date-time"}, stamps) == [
        "2024-02-29T12:00:00Z",
        "2000-02-29T12:00:00Z",
    ]
    times = ["23:59:60Z", "23:59:59z", "00:00:00.5+23:59", "24:00:00Z", "12:00:00"]
    assert accepted(gateway, {"type": "string", "format": "time"}, times) == [
        "23:59:59z",
        "00:00:00.5+23:59",
    ]


def test_a_pattern_and_a_format_are_both_enforced(gateway: StructServe) -> None:
    schema = {"type": "string", "format": "date", "pattern": "^2024"}
    days = ["2024-02-29", "2024-02-30", "2023-02-28", "2024"]
    assert accepted(gateway, schema, days) == ["2024-02-29"]


def test_formats_behind_a_local_ref_are_rewritten(gateway: StructServe) -> None:
    schema = {"$ref": "#/x", "x": {"type": "string", "format": "date"}}
    assert accepted(gateway, schema, ["2023-02-29", "2024-02-29"]) == ["2024-02-29"]


def test_hostnames_are_at_most_253_characters(gateway: StructServe) -> None:
    longest = ".".join(["a" * 63] * 3 + ["a" * 61])
    names = [longest, longest + "a", "a"]
    assert accepted(gateway, {"type": "string", "format": "hostname"}, names) == [longest, "a"]
    rewritten = rewrite_schema({"format": "hostname", "maxLength": 300})
    assert rewritten["maxLength"] == HOSTNAME_MAX_LENGTH
    assert rewrite_schema({"format": "hostname", "maxLength": 9})["maxLength"] == 9


def _dates() -> Iterator[str]:
    for year in range(10_000):
        for month_day in ("02-28", "02-29", "02-30", "01-31", "04-30", "04-31", "13-01", "01-00"):
            yield f"{year:04d}-{month_day}"
    for year in (0, 1, 4, 100, 400, 1900, 2000, 2023, 2024, 9999):
        for month in range(100):
            for day in range(100):
                yield f"{year:04d}-{month:02d}-{day:02d}"


def _times() -> Iterator[str]:
    offsets = ("Z", "z", "+00:00", "-23:59", "+24:00", "+23:60", "", "+0000", "Q")
    for hour in range(30):
        for minute in (0, 59, 60):
            for second in (0, 59, 60, 61):
                for fraction in ("", ".5", ".", ".123456789"):
                    for offset in offsets:
                        yield f"{hour:02d}:{minute:02d}:{second:02d}{fraction}{offset}"


def test_date_regex_is_exactly_the_validator() -> None:
    regex = re.compile(PATTERNS["date"])
    wrong = [d for d in _dates() if bool(regex.fullmatch(d)) != CHECKER.conforms(d, "date")]
    assert wrong == []


def test_time_and_date_time_regexes_are_exactly_the_validator() -> None:
    time, stamp = re.compile(PATTERNS["time"]), re.compile(PATTERNS["date-time"])
    times = list(_times())
    assert [t for t in times if bool(time.fullmatch(t)) != CHECKER.conforms(t, "time")] == []
    days = ("2024-02-29", "2023-02-29", "0000-01-01", "0001-01-01", "9999-12-31")
    stamps = [f"{day}{sep}{t}" for day in days for sep in "Tt " for t in times[::7]]
    assert [s for s in stamps if bool(stamp.fullmatch(s)) != CHECKER.conforms(s, "date-time")] == []


def test_enforced_formats_are_checked_by_the_validator() -> None:
    assert sorted(FORMATS - set(CHECKER.checkers)) == []


@pytest.mark.parametrize(
    ("draft", "name", "status"),
    [
        ("https://json-schema.org/draft/2020-12/schema", "date", "enforced"),
        ("https://json-schema.org/draft/2020-12/schema", "iri", "unenforced"),
        ("https://json-schema.org/draft/2020-12/schema", "no-such-format", "annotation"),
        ("http://json-schema.org/draft-03/schema#", "time", "unenforced"),  # %H:%M:%S
        ("http://json-schema.org/draft-03/schema#", "color", "unenforced"),
        ("http://json-schema.org/draft-03/schema#", "host-name", "unenforced"),
        ("http://json-schema.org/draft-04/schema#", "date", "enforced"),  # not asserted there
    ],
)
def test_format_status_follows_the_drafts_checker(draft: str, name: str, status: str) -> None:
    assert format_status(name, format_checkers({"$schema": draft})) == status


def test_draft3_time_is_refused_under_strict(gateway: StructServe) -> None:
    schema = {"$schema": "http://json-schema.org/draft-03/schema#", "format": "time"}
    assert "format at /format" in str(gateway.compile(schema).error)
