"""The default model's tokenizer for choice-set tests (pulled by the test command's set-up)."""

from __future__ import annotations

from pathlib import Path

import pytest

from choice_sets.tokenizer import ModelTokenizer
from tests.prereq import default_model_dir, require


@pytest.fixture(scope="session")
def model_tokenizer() -> ModelTokenizer:
    """SmolLM2's tokenizer (tokenizer.json, vocab 49152, EOS 2)."""
    folder: Path = default_model_dir()
    require((folder / "tokenizer.json").is_file(), "the default model (structserve models pull)")
    return ModelTokenizer.open(folder)
