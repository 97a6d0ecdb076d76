"""BFCL data: categories read from a zip laid out like the bfcl-eval wheel."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.bfcl_data import BFCL_VERSION, CATEGORIES, load_category, wheel_version
from tests.unit.bench.bfcl_fixtures import AREA, write_wheel


def test_loads_questions_with_their_possible_answers(tmp_path: Path) -> None:
    wheel = write_wheel(tmp_path / "w.whl")
    entries = load_category(wheel, "simple_python")
    assert [e.id for e in entries] == ["simple_python_0", "simple_python_1", "simple_python_2"]
    first = entries[0]
    assert first.category == "simple_python"
    assert first.messages == [{"role": "user", "content": "Area for base 0, height 2?"}]
    assert first.functions == [AREA]
    assert first.ground_truth == [
        {"geometry.area": {"base": [0], "height": [2.0], "unit": ["cm", ""]}}
    ]


def test_limit_takes_the_first_entries(tmp_path: Path) -> None:
    wheel = write_wheel(tmp_path / "w.whl")
    assert [e.id for e in load_category(wheel, "simple_python", 2)] == [
        "simple_python_0",
        "simple_python_1",
    ]


def test_simple_and_simple_python_name_the_same_file(tmp_path: Path) -> None:
    wheel = write_wheel(tmp_path / "w.whl")
    assert len(load_category(wheel, "simple")) == 3


def test_irrelevance_has_no_possible_answers(tmp_path: Path) -> None:
    wheel = write_wheel(tmp_path / "w.whl")
    (entry,) = load_category(wheel, "irrelevance")
    assert entry.ground_truth is None


def test_the_newest_data_version_wins(tmp_path: Path) -> None:
    wheel = write_wheel(tmp_path / "w.whl", version=3)
    assert len(load_category(wheel, "simple_python")) == 3


def test_unknown_category_names_the_ones_present(tmp_path: Path) -> None:
    wheel = write_wheel(tmp_path / "w.whl")
    with pytest.raises(KeyError, match="irrelevance"):
        load_category(wheel, "java")


def test_version_from_metadata(tmp_path: Path) -> None:
    assert wheel_version(write_wheel(tmp_path / "w.whl")) == BFCL_VERSION


def test_default_categories_are_single_turn_ast_ones() -> None:
    assert "simple_python" in CATEGORIES and "irrelevance" in CATEGORIES
    assert not any("multi_turn" in c for c in CATEGORIES)
