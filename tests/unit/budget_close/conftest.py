"""The default model's tokenizer for the budget-closing tests (pulled by the test set-up)."""

from __future__ import annotations

import pytest

from budget_close.token_text import TokenText
from choice_sets.tokenizer import ModelTokenizer
from tests.prereq import default_model_dir, require


@pytest.fixture(scope="session")
def token_text() -> TokenText:
    """SmolLM2's tokenizer as budget closing reads it (byte-level BPE, EOS 2)."""
    folder = default_model_dir()
    require((folder / "tokenizer.json").is_file(), "the default model (structserve models pull)")
    return TokenText.of(ModelTokenizer.open(folder))
