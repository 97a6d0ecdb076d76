"""Perplexity on WikiText-2 test text through transformers (compressed layers decompressed).

Protocol (fixed so numbers compare across models and engines):
* the raw test file is tokenized whole with the model's tokenizer (no BOS, no special tokens);
* windows of `context` tokens start every `stride` tokens; window 0 scores positions 1..C-1,
  later windows score only their last `stride` positions (each token scored once, with at
  least C - stride tokens of context); `max_windows` keeps the first windows only;
* ppl = exp(mean negative log-likelihood over all scored tokens).
`hf_perplexity` runs the windows through transformers (used by `compress --heal` and as a
cross-check); bench/quality.py scores the same windows with the serving engine (vLLM).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from compress.shared_data import default_test_text


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
    text: Path | None = None,
    context: int = 512,
    stride: int = 512,
    max_windows: int | None = None,
) -> list[Window]:
    """Windows of the test text (default: WikiText-2 test) tokenized with `model_dir`'s
    tokenizer.json."""
    from compress.calibration import tokenize_file

    ids = tokenize_file(model_dir, default_test_text() if text is None else text)
    return make_windows(ids, context=context, stride=stride, max_windows=max_windows)


def ppl_result(total: float, count: int, windows: int, seconds: float, engine: str) -> PplResult:
    """The PplResult of a summed negative log-likelihood over `count` scored tokens."""
    nll = total / max(count, 1)
    return PplResult(math.exp(nll), nll, count, windows, seconds, engine)


def model_from_state(folder: Path, state: dict[str, Any], *, dtype: str = "float32") -> Any:
    """A transformers model of `folder`'s config (quantization config dropped) holding the
    dense `state` (missing keys keep their init; tied weights tied), in `dtype`."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    to = getattr(torch, dtype)
    config = AutoConfig.from_pretrained(folder)
    config.quantization_config = None
    model = AutoModelForCausalLM.from_config(config).to(to)
    model.load_state_dict({k: v.to(to) for k, v in state.items()}, strict=False)
    model.tie_weights()
    return model


def materialized_model(model_dir: Path, *, dtype: str = "float32") -> Any:
    """A transformers model of a dense or structserve folder (compressed layers decompressed
    through model_loaders' own bundles: Ŵ exactly as the loaders define it)."""
    import torch
    from transformers import AutoModelForCausalLM

    from compress.hf_folder import decompressed_state
    from model_loaders.checkpoint.manifest import load_manifest

    if load_manifest(Path(model_dir)) is None:
        return AutoModelForCausalLM.from_pretrained(model_dir, dtype=getattr(torch, dtype)).eval()
    return model_from_state(model_dir, decompressed_state(Path(model_dir)), dtype=dtype).eval()


def hf_perplexity(model_dir: Path, windows: list[Window], *, dtype: str = "float32") -> PplResult:
    """The perplexity of `windows` through transformers (compressed layers decompressed)."""
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
    return ppl_result(total, count, len(windows), time.time() - t0, "transformers")
