"""Perplexity protocol: windows, scoring of prompt logprobs, table rendering."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from bench.quality import (
    QualityRow,
    Window,
    make_windows,
    nll_from_prompt_logprobs,
    plot_rows,
    render_table,
)


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


class _LP:
    def __init__(self, logprob: float) -> None:
        self.logprob = logprob


def test_nll_from_prompt_logprobs() -> None:
    w = Window([5, 6, 7], score_from=1)
    plp = [None, {6: _LP(-1.0)}, {7: _LP(-3.0), 1: _LP(-0.1)}]
    assert nll_from_prompt_logprobs(w, plp) == (4.0, 2)


def test_table_and_plot(tmp_path: Path) -> None:
    rows = [
        QualityRow("dense", 20.0, 1.0, 1.0, 1.0, None),
        QualityRow("sparsegpt24", 40.0, 0.5, 0.5625, 0.7, 120.0),
    ]
    md = render_table(rows, 20.0)
    assert "| sparsegpt24 | 40.00 | 2.00 | 0.500 | 0.562 | 0.700 | 2.0 min |" in md
    plot_rows(rows, 20.0, tmp_path / "q.png")
    assert (tmp_path / "q.png").stat().st_size > 1000
    assert math.isclose(rows[1].ppl / 20.0, 2.0)
