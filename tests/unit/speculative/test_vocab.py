"""The draft-vocabulary check: same tokenizer passes, any difference is a typed error."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from compress.vocab import DraftVocabularyError, check_same_vocabulary, tokenizer_fingerprint
from server.serve import ServeError, build_components
from server.settings import Settings

SMOLLM2 = Path("/root/.cache/structserve/models/smollm2-135m-instruct")
FILES = ("config.json", "tokenizer.json", "tokenizer_config.json")

pytestmark = pytest.mark.skipif(not SMOLLM2.is_dir(), reason="default model not pulled")


def _copy(dst: Path) -> Path:
    dst.mkdir()
    for name in FILES:
        shutil.copy2(SMOLLM2 / name, dst / name)
    return dst


def _edit_json(path: Path, **changes: object) -> None:
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


def test_same_tokenizer_passes(tmp_path: Path) -> None:
    check_same_vocabulary(SMOLLM2, _copy(tmp_path / "draft"))
    assert tokenizer_fingerprint(SMOLLM2)["vocab_size"] == 49152


def test_vocab_size_mismatch_is_refused(tmp_path: Path) -> None:
    draft = _copy(tmp_path / "draft")
    _edit_json(draft / "config.json", vocab_size=32000)
    with pytest.raises(DraftVocabularyError, match="vocab_size differs") as info:
        check_same_vocabulary(SMOLLM2, draft)
    assert info.value.expected == 49152 and info.value.found == 32000


def test_changed_token_is_refused(tmp_path: Path) -> None:
    draft = _copy(tmp_path / "draft")
    tok = json.loads((draft / "tokenizer.json").read_text())
    vocab = tok["model"]["vocab"]
    first = next(iter(vocab))
    vocab[first + "x"] = vocab.pop(first)
    (draft / "tokenizer.json").write_text(json.dumps(tok))
    with pytest.raises(DraftVocabularyError, match="tokenizer_sha256"):
        check_same_vocabulary(SMOLLM2, draft)


def test_other_eos_is_refused(tmp_path: Path) -> None:
    draft = _copy(tmp_path / "draft")
    _edit_json(draft / "config.json", eos_token_id=0)
    with pytest.raises(DraftVocabularyError, match="eos_token_id"):
        check_same_vocabulary(SMOLLM2, draft)


def test_missing_tokenizer_is_refused(tmp_path: Path) -> None:
    draft = _copy(tmp_path / "draft")
    (draft / "tokenizer.json").unlink()
    with pytest.raises(DraftVocabularyError, match=r"tokenizer\.json"):
        check_same_vocabulary(SMOLLM2, draft)


def test_serve_refuses_mismatched_draft_before_starting(tmp_path: Path) -> None:
    draft = _copy(tmp_path / "draft")
    _edit_json(draft / "config.json", vocab_size=50000)
    settings = Settings(model=str(SMOLLM2), draft=str(draft), cache_dir=tmp_path / "cache")
    with pytest.raises(ServeError, match="does not share the target's vocabulary"):
        build_components(settings)


def test_serve_refuses_missing_draft(tmp_path: Path) -> None:
    settings = Settings(model=str(SMOLLM2), draft=str(tmp_path / "nope"))
    with pytest.raises(ServeError, match=r"no config\.json"):
        build_components(settings)
