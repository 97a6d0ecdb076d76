"""Perplexity on WikiText-2 test text, computed by the serving engine (vLLM prompt logprobs).

The windows and the protocol are compress/perplexity.py's (shared with the transformers
cross-check `hf_perplexity` there). The engine is vLLM's offline `LLM` (the same model executor,
plugin and dtype as serving), asked for `prompt_logprobs=0` (the logprob of each actual prompt
token). Also here: the quality table and its plot.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
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


@dataclass(frozen=True)
class QualityRow:
    """One line of the quality table."""

    name: str
    ppl: float
    param_ratio: float  # decoder linears: stored values / dense
    byte_ratio: float  # decoder linears: bytes in the checkpoint format / dense bf16
    model_byte_ratio: float  # whole checkpoint safetensors bytes / dense checkpoint
    compress_seconds: float | None


def checkpoint_bytes(folder: Path) -> int:
    """Total bytes of a folder's safetensors files."""
    return sum(p.stat().st_size for p in Path(folder).glob("*.safetensors"))


def render_table(rows: list[QualityRow], dense_ppl: float) -> str:
    """Markdown table of the rows, with perplexity ratio to the dense model."""
    head = (
        "| model | ppl | × dense | linear params | linear bytes | checkpoint bytes "
        "| compress time |\n|---|---:|---:|---:|---:|---:|---:|\n"
    )
    lines = []
    for r in rows:
        secs = "—" if r.compress_seconds is None else f"{r.compress_seconds / 60:.1f} min"
        lines.append(
            f"| {r.name} | {r.ppl:,.2f} | {r.ppl / dense_ppl:,.2f} | {r.param_ratio:.3f} "
            f"| {r.byte_ratio:.3f} | {r.model_byte_ratio:.3f} | {secs} |"
        )
    return head + "\n".join(lines) + "\n"


PLOT_CLIP = 100.0  # y-axis top (× dense); rows above it are drawn on the edge


def plot_rows(
    rows: list[QualityRow], dense_ppl: float, png: Path, *, title: str = "perplexity vs bytes"
) -> None:
    """Scatter of perplexity ratio to dense against linear byte ratio (log y), saved as PNG.

    Points are numbered; the legend names each with its ratio. The dashed line marks 2×.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 5))
    markers = "osD^vP*Xh"
    for k, r in enumerate(rows, 1):
        ratio = r.ppl / dense_ppl
        y = min(ratio, PLOT_CLIP)  # off-scale rows sit on the top edge, value in the legend
        ax.scatter(
            r.byte_ratio,
            y,
            marker="^" if ratio > PLOT_CLIP else markers[(k - 1) // 10 % len(markers)],
            label=f"{k}. {r.name} ({ratio:,.2f}×)",
        )
        ax.annotate(
            str(k), (r.byte_ratio, y), fontsize=7, xytext=(3, 2), textcoords="offset points"
        )
    ax.axhline(2.0, color="grey", linestyle="--", linewidth=0.8)
    ax.set_ylim(0.9, PLOT_CLIP * 1.4)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    ax.set_yscale("log")
    ax.set_xlabel("decoder-linear bytes / dense bf16")
    ax.set_ylabel(f"perplexity / dense (log; > {PLOT_CLIP:g} on the top edge)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(png, dpi=120)
    plt.close(fig)
