"""The draft-vocabulary check: same tokenizer passes, any difference is a typed error."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from model_loaders.checkpoint.vocab import (
    DraftVocabularyError,
    check_same_vocabulary,
    tokenizer_fingerprint,
)
from tests.prereq import require_default_model

FILES = ("config.json", "tokenizer.json", "tokenizer_config.json")


@pytest.fixture(scope="module")
def target() -> Path:
    """The default model's folder (its tokenizer and config are the target's)."""
    return require_default_model()


def copy_vocabulary(src: Path, dst: Path) -> Path:
    """A folder with `src`'s config and tokenizer files only (a draft to edit)."""
    dst.mkdir()
    for name in FILES:
        shutil.copy2(src / name, dst / name)
    return dst


def edit_json(path: Path, **changes: object) -> None:
    """Update top-level keys of a JSON file in place."""
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


def test_same_tokenizer_passes(target: Path, tmp_path: Path) -> None:
    check_same_vocabulary(target, copy_vocabulary(target, tmp_path / "draft"))
    assert tokenizer_fingerprint(target)["vocab_size"] == 49152


def test_vocab_size_mismatch_is_refused(target: Path, tmp_path: Path) -> None:
    draft = copy_vocabulary(target, tmp_path / "draft")
    edit_json(draft / "config.json", vocab_size=32000)
    with pytest.raises(DraftVocabularyError, match="vocab_size differs") as info:
        check_same_vocabulary(target, draft)
    assert info.value.expected == 49152 and info.value.found == 32000


def test_changed_token_is_refused(target: Path, tmp_path: Path) -> None:
    draft = copy_vocabulary(target, tmp_path / "draft")
    tok = json.loads((draft / "tokenizer.json").read_text())
    vocab = tok["model"]["vocab"]
    first = next(iter(vocab))
    vocab[first + "x"] = vocab.pop(first)
    (draft / "tokenizer.json").write_text(json.dumps(tok))
    with pytest.raises(DraftVocabularyError, match="tokenizer_sha256"):
        check_same_vocabulary(target, draft)


def test_other_eos_is_refused(target: Path, tmp_path: Path) -> None:
    draft = copy_vocabulary(target, tmp_path / "draft")
    edit_json(draft / "config.json", eos_token_id=0)
    with pytest.raises(DraftVocabularyError, match="eos_token_id"):
        check_same_vocabulary(target, draft)


def test_missing_tokenizer_is_refused(target: Path, tmp_path: Path) -> None:
    draft = copy_vocabulary(target, tmp_path / "draft")
    (draft / "tokenizer.json").unlink()
    with pytest.raises(DraftVocabularyError, match=r"tokenizer\.json"):
        check_same_vocabulary(target, draft)
