"""The default model's tokenizer and JSONSchemaBench dev-split schemas for the budget-closing
tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from llguidance import LLMatcher, LLTokenizer

from bench.jsb_data import SUBSETS, data_root, load_cases
from budget_close.token_text import TokenText
from choice_sets.tokenizer import ModelTokenizer
from compress.shared_data import shared_data_dir
from grammar.llg import serialize
from tests.prereq import default_model_dir, require

PER_SUBSET = 12


@pytest.fixture(scope="session")
def token_text() -> TokenText:
    """SmolLM2's tokenizer as budget closing reads it (byte-level BPE, EOS 2)."""
    folder = default_model_dir()
    require((folder / "tokenizer.json").is_file(), "the default model (structserve models pull)")
    return TokenText.of(ModelTokenizer.open(folder))


@pytest.fixture(scope="session")
def dev_cases(tmp_path_factory: pytest.TempPathFactory) -> list[Any]:
    """PER_SUBSET schemas of each JSONSchemaBench subset (dev split, seed 0)."""
    root = data_root(shared_data_dir(), tmp_path_factory.mktemp("jsb"))
    return load_cases(Path(root), list(SUBSETS), PER_SUBSET, seed=0)


def compiling(cases: list[Any], tokenizer: LLTokenizer) -> Iterator[tuple[Any, str]]:
    """The cases whose schema the engine's grammar compiles, with that grammar (serialized)."""
    for case in cases:
        try:
            grammar = serialize("json", case.schema)
        except (ValueError, TypeError, KeyError):
            continue
        if not LLMatcher(tokenizer, grammar, log_level=0).is_error():
            yield case, grammar
