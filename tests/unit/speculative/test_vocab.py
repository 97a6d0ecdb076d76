"""`structserve serve --draft`: a draft whose vocabulary differs is refused before the engine
starts (the check itself: tests/unit/model_loaders/checkpoint/test_vocab.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.serve import ServeError, build_components
from server.settings import Settings
from tests.prereq import require_default_model
from tests.unit.model_loaders.checkpoint.test_vocab import copy_vocabulary, edit_json


@pytest.fixture(scope="module")
def target() -> Path:
    """The default model's folder (the served target)."""
    return require_default_model()


def test_serve_refuses_mismatched_draft_before_starting(target: Path, tmp_path: Path) -> None:
    draft = copy_vocabulary(target, tmp_path / "draft")
    edit_json(draft / "config.json", vocab_size=50000)
    settings = Settings(model=str(target), draft=str(draft), cache_dir=tmp_path / "cache")
    with pytest.raises(ServeError, match="does not share the target's vocabulary"):
        build_components(settings)


def test_serve_refuses_missing_draft(target: Path, tmp_path: Path) -> None:
    settings = Settings(model=str(target), draft=str(tmp_path / "nope"))
    with pytest.raises(ServeError, match=r"no config\.json"):
        build_components(settings)
