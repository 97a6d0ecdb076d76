"""Calibration data and per-layer statistics.

* `calibration_samples`: random fixed-length token windows from a raw text file (WikiText-2
  validation split by default, compress/shared_data.py; read in place, never copied into the
  repo).
* `HessianCollector`: forward hooks that accumulate H = Σ x xᵀ / n for the inputs of chosen
  linear layers (the second moment every data-aware method needs).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


def tokenize_file(model_dir: Path, text_path: Path) -> list[int]:
    """Token ids of a whole text file with the model's own tokenizer (tokenizer.json)."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(Path(model_dir) / "tokenizer.json"))
    text = Path(text_path).read_text(encoding="utf-8")
    return tok.encode(text, add_special_tokens=False).ids


def calibration_samples(
    model_dir: Path, text_path: Path, *, nsamples: int, seqlen: int, seed: int
) -> torch.Tensor:
    """Random token windows for calibration.

    Args:
        model_dir: HF folder holding tokenizer.json.
        text_path: raw text (e.g. wiki.valid.raw).
        nsamples: number of windows.
        seqlen: tokens per window.
        seed: window offsets come from torch.Generator(seed): same seed, same samples.

    Returns:
        [nsamples, seqlen] int64 token ids.
    """
    import torch

    ids = torch.tensor(tokenize_file(model_dir, text_path), dtype=torch.int64)
    if ids.numel() <= seqlen:
        raise ValueError(f"{text_path}: {ids.numel()} tokens, need more than {seqlen}")
    gen = torch.Generator().manual_seed(seed)
    starts = torch.randint(0, ids.numel() - seqlen, (nsamples,), generator=gen)
    return torch.stack([ids[s : s + seqlen] for s in starts.tolist()])


class HessianCollector:
    """Accumulate H = Σ x xᵀ / n over the inputs of named linear modules (float64 sums)."""

    def __init__(
        self, modules: dict[str, torch.nn.Module], *, aliases: dict[str, str] | None = None
    ) -> None:
        """Hook `modules`; `aliases` maps a name to another that sees the same input (q/k/v,
        gate/up), whose Hessian is then computed once and shared."""
        self._sums: dict[str, torch.Tensor] = {}
        self._counts: dict[str, int] = {}
        self._aliases = {a: b for a, b in (aliases or {}).items() if a in modules and b in modules}
        self._handles = [
            m.register_forward_hook(self._hook(n))
            for n, m in modules.items()
            if n not in self._aliases
        ]

    def _hook(self, name: str):  # type: ignore[no-untyped-def]
        def hook(module: torch.nn.Module, args: tuple, output: object) -> None:
            x = args[0].detach().reshape(-1, args[0].shape[-1]).float()  # [tokens, in]
            xtx = (x.T @ x).double()
            self._sums[name] = self._sums[name] + xtx if name in self._sums else xtx
            self._counts[name] = self._counts.get(name, 0) + x.shape[0]

        return hook

    def remove(self) -> None:
        """Detach the hooks."""
        for h in self._handles:
            h.remove()

    def hessians(self) -> dict[str, torch.Tensor]:
        """name -> [in, in] float32 second moment (aliases included)."""
        out = {n: (s / self._counts[n]).float() for n, s in self._sums.items()}
        for a, b in self._aliases.items():
            out[a] = out[b]
        return out
