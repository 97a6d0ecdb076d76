"""Scoring: BFCL's own AST checker (from the wheel) behind our decoding, on hand-made calls."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bench.bfcl_check import Call, Checker, decode, is_call_list, is_empty, load_checker
from bench.bfcl_data import Entry
from tests.unit.bench.bfcl_fixtures import AREA, real_wheel

WEATHER = {
    "name": "get_weather",
    "description": "Weather.",
    "parameters": {
        "type": "dict",
        "properties": {
            "city": {"type": "string", "description": "City."},
            "days": {"type": "integer", "description": "Days."},
        },
        "required": ["city"],
    },
}


@pytest.fixture(scope="module")
def checker(tmp_path_factory: pytest.TempPathFactory) -> Checker:
    return load_checker(real_wheel(), tmp_path_factory.mktemp("bfcl"))


def entry(category: str, functions: list[dict[str, Any]], truth: Any) -> Entry:
    return Entry(f"{category}_0", category, [{"role": "user", "content": "q"}], functions, truth)


def call(name: str, **arguments: Any) -> Call:
    return Call(name, json.dumps(arguments))


SIMPLE = entry(
    "simple_python",
    [AREA],
    [{"geometry.area": {"base": [10], "height": [5.0, 5.5], "unit": ["cm", "centimeters", ""]}}],
)


@pytest.mark.parametrize(
    "arguments",
    [
        {"base": 10, "height": 5.0, "unit": "cm"},
        {"base": 10, "height": 5.5},  # unit optional ("" allowed); second allowed height
        {"base": 10, "height": 5},  # an int where a float is expected is accepted
        {"base": 10, "height": 5.0, "unit": "Centi-Meters"},  # strings: case, punctuation
    ],
)
def test_right_simple_calls(checker: Checker, arguments: dict[str, Any]) -> None:
    verdict = checker.check(SIMPLE, [call("geometry_area", **arguments)], None)
    assert verdict.valid, verdict


@pytest.mark.parametrize(
    ("name", "arguments", "error_type"),
    [
        ("geometry_area", {"base": 11, "height": 5.0}, "value_error:others"),
        ("geometry_area", {"height": 5.0}, "simple_function_checker:missing_required"),
        ("geometry_area", {"base": 10, "height": 5.0, "color": "red"}, "unexpected_param"),
        ("geometry_area", {"base": "10", "height": 5.0}, "type_error:simple"),
        ("geometry_area", {"base": 10, "height": 5.0, "unit": "inch"}, "value_error:string"),
        ("area", {"base": 10, "height": 5.0}, "simple_function_checker:wrong_func_name"),
        ("geometry.area", {"base": 10, "height": 5.0}, "wrong_func_name"),  # dots were renamed
    ],
)
def test_wrong_simple_calls(
    checker: Checker, name: str, arguments: dict[str, Any], error_type: str
) -> None:
    verdict = checker.check(SIMPLE, [call(name, **arguments)], None)
    assert not verdict.valid
    assert verdict.error_type is not None and verdict.error_type.endswith(error_type)


def test_an_optional_answer_without_the_empty_marker_is_required(checker: Checker) -> None:
    strict = entry("simple_python", [AREA], [{"geometry.area": {"base": [1], "height": [2.0],
                                                                  "unit": ["cm"]}}])  # fmt: skip
    verdict = checker.check(strict, [call("geometry_area", base=1, height=2.0)], None)
    assert verdict.error_type == "simple_function_checker:missing_optional"


def test_simple_needs_exactly_one_call(checker: Checker) -> None:
    one = call("geometry_area", base=10, height=5.0)
    assert not checker.check(SIMPLE, [one, one], None).valid


def test_no_call_and_bad_json_fail_to_decode(checker: Checker) -> None:
    assert checker.check(SIMPLE, None, "The area is 25.").error_type == "ast_decoder:decoder_failed"
    bad = [Call("geometry_area", '{"base": 10,')]
    assert checker.check(SIMPLE, bad, None).error_type == "ast_decoder:decoder_failed"
    assert not checker.check(SIMPLE, [Call("geometry_area", "[1]")], None).valid


PARALLEL = entry(
    "parallel",
    [WEATHER],
    [
        {"get_weather": {"city": ["Paris"], "days": [1, ""]}},
        {"get_weather": {"city": ["Rome", "Roma"], "days": [1, ""]}},
    ],
)


def test_parallel_calls_match_in_any_order(checker: Checker) -> None:
    calls = [call("get_weather", city="Roma"), call("get_weather", city="Paris", days=1)]
    assert checker.check(PARALLEL, calls, None).valid
    assert not checker.check(PARALLEL, calls[:1], None).valid
    wrong = [call("get_weather", city="Roma"), call("get_weather", city="Oslo")]
    assert not checker.check(PARALLEL, wrong, None).valid


def test_multiple_picks_the_expected_function(checker: Checker) -> None:
    multiple = entry("multiple", [AREA, WEATHER], [{"get_weather": {"city": ["Oslo"],
                                                                     "days": [""]}}])  # fmt: skip
    assert checker.check(multiple, [call("get_weather", city="oslo")], None).valid
    assert not checker.check(multiple, [call("geometry_area", base=1, height=1.0)], None).valid


def test_dict_values_check_each_key(checker: Checker) -> None:
    doc = {
        "name": "book",
        "description": "Book.",
        "parameters": {
            "type": "dict",
            "properties": {"prefs": {"type": "dict", "properties": {}, "description": "P."}},
            "required": ["prefs"],
        },
    }
    case = entry("live_simple", [doc], [{"book": {"prefs": [{"size": ["large", "L"],
                                                           "milk": ["oat", ""]}]}}])  # fmt: skip
    assert checker.check(case, [call("book", prefs={"size": "L"})], None).valid
    assert not checker.check(case, [call("book", prefs={"size": "small"})], None).valid


def test_irrelevance_is_right_without_a_call(checker: Checker) -> None:
    irrelevant = entry("irrelevance", [WEATHER], None)
    assert checker.check(irrelevant, None, "I can't help with that.").valid
    assert checker.check(irrelevant, [], "").valid
    assert checker.check(irrelevant, [Call("get_weather", "not json")], None).valid
    verdict = checker.check(irrelevant, [call("get_weather", city="Oslo")], None)
    assert verdict.error_type == "irrelevance_error:decoder_success"


def test_decode_like_bfcls_openai_handler() -> None:
    assert decode([call("f", a=1), call("g")], None) == [{"f": {"a": 1}}, {"g": {}}]
    assert decode(None, "text") is None
    assert decode(None, "") == [] and decode([], None) == []
    assert decode([Call("f", "{")], None) is None
    assert is_call_list([{"f": {}}]) and not is_call_list([{"f": 1}]) and not is_call_list([{}])
    assert is_empty([]) and is_empty([{}]) and not is_empty([{"f": {}}])


def test_checker_loads_from_an_extracted_wheel(checker: Checker, tmp_path: Path) -> None:
    assert callable(checker.ast_checker)
    assert checker.python.value == "python"
