"""vLLM perplexity: scoring of prompt logprobs; the quality table and its plot.

The windows themselves are tested with compress/perplexity.py (tests/unit/compress).
"""

from __future__ import annotations

import math
from pathlib import Path

from bench.quality import QualityRow, nll_from_prompt_logprobs, plot_rows, render_table
from compress.perplexity import Window


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
