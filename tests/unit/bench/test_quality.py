"""vLLM perplexity: scoring of prompt logprobs.

The windows themselves are tested with compress/perplexity.py (tests/unit/compress).
"""

from __future__ import annotations

from bench.quality import nll_from_prompt_logprobs
from compress.perplexity import Window


class _LP:
    def __init__(self, logprob: float) -> None:
        self.logprob = logprob


def test_nll_from_prompt_logprobs() -> None:
    w = Window([5, 6, 7], score_from=1)
    plp = [None, {6: _LP(-1.0)}, {7: _LP(-3.0), 1: _LP(-0.1)}]
    assert nll_from_prompt_logprobs(w, plp) == (4.0, 2)
