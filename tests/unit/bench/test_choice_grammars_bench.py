"""`structserve bench choice-grammars` on a small set: both engines compile the alternation vLLM
builds, mask, and accept the walked items (the real tokenizer, in a child process each)."""

from __future__ import annotations

import pytest

from bench.choice_grammars import BATCH, measure
from tests.prereq import default_model_dir, require


@pytest.mark.parametrize("engine", ["llguidance", "xgrammar"])
def test_small_set_compiles_masks_and_accepts_items(engine: str) -> None:
    folder = default_model_dir()
    require((folder / "tokenizer.json").is_file(), "the default model (structserve models pull)")
    row = measure(engine, 300, folder, timeout_s=120)
    assert "error" not in row and "matcher_error" not in row, row
    assert isinstance(row["compile_s"], float) and row["compile_s"] >= 0
    assert row["walks_accepted"] == BATCH
    assert row[f"mask_ms_b{BATCH}"] >= row["mask_ms_b1"] > 0


def test_timeout_is_reported_not_raised() -> None:
    folder = default_model_dir()
    require((folder / "tokenizer.json").is_file(), "the default model (structserve models pull)")
    row = measure("xgrammar", 300, folder, timeout_s=0.01)
    assert row["compile_s"].startswith("timeout")
