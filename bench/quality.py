"""Perplexity on WikiText-2 test text, computed by the serving engine (vLLM prompt logprobs).

The windows and the protocol are compress/perplexity.py's (shared with the transformers
cross-check `hf_perplexity` there). The engine is vLLM's offline `LLM` (the same model executor,
plugin and dtype as serving), asked for `prompt_logprobs=0` (the logprob of each actual prompt
token).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from compress.perplexity import PplResult, Window, ppl_result


def nll_from_prompt_logprobs(window: Window, prompt_logprobs: list[Any]) -> tuple[float, int]:
    """Sum of -logprob of the scored positions of one window, and their count."""
    total, count = 0.0, 0
    for pos in range(window.score_from, len(window.ids)):
        entry = prompt_logprobs[pos]
        lp = entry[window.ids[pos]]
        total -= float(getattr(lp, "logprob", lp))
        count += 1
    return total, count


def vllm_perplexity(
    model_dir: Path,
    windows: list[Window],
    *,
    dtype: str = "bfloat16",
    max_num_seqs: int = 8,
) -> PplResult:
    """Perplexity through vLLM's offline engine (prompt logprobs).

    Args:
        model_dir: dense or structserve checkpoint folder (the plugin loads compressed ones).
        windows: from `eval_windows`.
        dtype: serving dtype.
        max_num_seqs: windows per engine step.

    Returns:
        The PplResult (engine "vllm").
    """
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    from vllm import LLM, SamplingParams
    from vllm.inputs import TokensPrompt

    context = max(len(w.ids) for w in windows)
    llm = LLM(
        model=str(model_dir),
        dtype=dtype,
        enforce_eager=True,
        max_model_len=context + 1,
        max_num_seqs=max_num_seqs,
        max_num_batched_tokens=max(context * 2, 2048),
        seed=0,
    )
    params = SamplingParams(max_tokens=1, temperature=0.0, prompt_logprobs=0, detokenize=False)
    t0 = time.time()
    outs = llm.generate([TokensPrompt(prompt_token_ids=w.ids) for w in windows], params)
    seconds = time.time() - t0
    total, count = 0.0, 0
    for w, o in zip(windows, outs, strict=True):
        t, c = nll_from_prompt_logprobs(w, o.prompt_logprobs)
        total, count = total + t, count + c
    del llm
    return ppl_result(total, count, len(windows), seconds, "vllm")
