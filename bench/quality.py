"""Perplexity on WikiText-2 test text, computed by the serving engine (vLLM prompt logprobs).

Protocol (fixed so numbers compare across models):
* the raw test file is tokenized whole with the model's tokenizer (no BOS, no special tokens);
* windows of `context` tokens start every `stride` tokens; window 0 scores positions 1..C-1,
  later windows score only their last `stride` positions (each token scored once, with at
  least C - stride tokens of context); `max_windows` keeps the first windows only;
* ppl = exp(mean negative log-likelihood over all scored tokens).
The engine is vLLM's offline `LLM` (the same model executor, plugin and dtype as serving),
asked for `prompt_logprobs=0` (the logprob of each actual prompt token). `hf_perplexity` runs
the same windows through transformers, as a cross-check on dense models.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

DEFAULT_TEST = Path("/work/shared/data/wikitext2/wiki.test.raw")


@dataclass(frozen=True)
class Window:
    """Token ids of one window and the first position whose logprob is scored."""

    ids: list[int]
    score_from: int


@dataclass(frozen=True)
class PplResult:
    """Perplexity and how it was measured."""

    ppl: float
    nll: float
    tokens: int
    windows: int
    seconds: float
    engine: str

    def to_json(self) -> dict[str, Any]:
        """Plain-JSON form."""
        return asdict(self)


def make_windows(
    ids: list[int], *, context: int, stride: int, max_windows: int | None = None
) -> list[Window]:
    """Cut a token stream into scored windows (see the module docstring).

    Args:
        ids: the whole tokenized text.
        context: tokens per window.
        stride: offset between window starts (<= context).
        max_windows: keep only the first windows (None: all).

    Returns:
        The windows, in order.
    """
    if not (0 < stride <= context):
        raise ValueError(f"need 0 < stride <= context, got stride={stride}, context={context}")
    wins = []
    start = 0
    while start + 2 <= len(ids):
        chunk = ids[start : start + context]
        score_from = 1 if start == 0 else max(1, context - stride)
        if score_from < len(chunk):
            wins.append(Window(chunk, score_from))
        if max_windows is not None and len(wins) >= max_windows:
            break
        if start + context >= len(ids):
            break
        start += stride
    return wins


def eval_windows(
    model_dir: Path,
    *,
    text: Path = DEFAULT_TEST,
    context: int = 512,
    stride: int = 512,
    max_windows: int | None = None,
) -> list[Window]:
    """Windows of the test text tokenized with `model_dir`'s tokenizer.json."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(Path(model_dir) / "tokenizer.json"))
    ids = tok.encode(Path(text).read_text(encoding="utf-8"), add_special_tokens=False).ids
    return make_windows(ids, context=context, stride=stride, max_windows=max_windows)


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
    return _result(total, count, len(windows), seconds, "vllm")


def materialized_model(model_dir: Path, *, dtype: str = "float32") -> Any:
    """A transformers model of a dense or structserve folder (compressed layers decompressed
    through model_loaders' own bundles: Ŵ exactly as the loaders define it)."""
    import torch
    from safetensors.torch import load_file
    from transformers import AutoConfig, AutoModelForCausalLM

    from model_loaders.checkpoint.folder import safetensors_files
    from model_loaders.checkpoint.manifest import load_manifest
    from model_loaders.formats import bundle

    manifest = load_manifest(Path(model_dir))
    if manifest is None:
        return AutoModelForCausalLM.from_pretrained(model_dir, dtype=getattr(torch, dtype)).eval()
    state: dict[str, torch.Tensor] = {}
    for path in safetensors_files(Path(model_dir)):
        state.update(load_file(str(path)))
    for entry in manifest.layers.values():
        parts = {sfx: state.pop(f"{entry.name}.{sfx}") for sfx in entry.tensors()}
        state[f"{entry.name}.weight"] = bundle(entry, parts).to_dense()
    config = AutoConfig.from_pretrained(model_dir)
    config.quantization_config = None
    model = AutoModelForCausalLM.from_config(config).to(getattr(torch, dtype))
    model.load_state_dict({k: v.to(getattr(torch, dtype)) for k, v in state.items()}, strict=False)
    model.tie_weights()
    return model.eval()


def hf_perplexity(model_dir: Path, windows: list[Window], *, dtype: str = "float32") -> PplResult:
    """The same perplexity through transformers (compressed layers decompressed)."""
    import torch

    model = materialized_model(model_dir, dtype=dtype)
    total, count = 0.0, 0
    t0 = time.time()
    with torch.no_grad():
        for w in windows:
            ids = torch.tensor([w.ids])
            logits = model(ids).logits[0].float()  # [L, V]
            logp = torch.log_softmax(logits[:-1], dim=-1)  # predicts positions 1..L-1
            targets = ids[0, 1:]
            nll = -logp.gather(1, targets[:, None]).squeeze(1)  # [L-1]
            total += float(nll[w.score_from - 1 :].sum())
            count += len(w.ids) - w.score_from
    return _result(total, count, len(windows), time.time() - t0, "transformers")


def _result(total: float, count: int, windows: int, seconds: float, engine: str) -> PplResult:
    nll = total / max(count, 1)
    return PplResult(math.exp(nll), nll, count, windows, seconds, engine)


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
