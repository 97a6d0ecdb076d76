"""Perplexity protocol: the scored windows (shared by transformers and the vLLM engine)."""

from __future__ import annotations

from pathlib import Path

import pytest

from compress.perplexity import make_windows, ppl_result
from compress.shared_data import default_calib, default_test_text, shared_data_dir


def test_non_overlapping_windows_score_each_token_once() -> None:
    ids = list(range(100))
    wins = make_windows(ids, context=32, stride=32)
    assert [len(w.ids) for w in wins] == [32, 32, 32, 4]
    assert all(w.score_from == 1 for w in wins)


def test_strided_windows_score_only_new_tokens() -> None:
    ids = list(range(100))
    wins = make_windows(ids, context=32, stride=16)
    scored = []
    for k, w in enumerate(wins):
        start = k * 16
        scored += [start + p for p in range(w.score_from, len(w.ids))]
    assert scored == list(range(1, 100))


def test_max_windows_and_bad_stride() -> None:
    assert len(make_windows(list(range(1000)), context=64, stride=64, max_windows=3)) == 3
    with pytest.raises(ValueError):
        make_windows(list(range(10)), context=4, stride=8)


def test_ppl_result_is_exp_mean_nll() -> None:
    r = ppl_result(6.0, 3, 1, 0.5, "transformers")
    assert r.nll == 2.0 and r.tokens == 3 and abs(r.ppl - 7.389056) < 1e-5


def test_shared_data_follows_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STRUCTSERVE_SHARED_DATA", str(tmp_path))
    assert shared_data_dir() == tmp_path
    assert default_calib() == tmp_path / "wikitext2" / "wiki.valid.raw"
    assert default_test_text() == tmp_path / "wikitext2" / "wiki.test.raw"
    monkeypatch.delenv("STRUCTSERVE_SHARED_DATA")
    repo = Path(__file__).resolve().parents[3]
    assert shared_data_dir() == repo.parent / "shared" / "data"
