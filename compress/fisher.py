"""Output-channel Fisher of every decoder linear: how much each output's error costs in loss.

A second-order Taylor expansion of the calibration loss in one linear's outputs y [T, O], with
the empirical Fisher taken diagonal over the outputs, gives

    Δloss / T ≈ ½ Σ_o d_o · mean_t (Δy_{t,o})²,   d_o = mean_t (∂ℓ/∂y_{t,o})²,

with ℓ the summed token cross-entropy of the dense model. For the whitened truncation of asvd,
Δy = ΔW x and ΔW L = −Σ_{i>r} σ_i u_i ṽ_iᵀ, so dropping direction i costs ½ σ_i² Σ_o d_o u_{o,i}²:
a loss-scaled value per singular direction, comparable across layers (`compress.asvd
.fisher_scores`), which `--allocation fisher` spends one global parameter budget on.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

# windows of the calibration set used for the gradients (the Hessians use all of them)
FISHER_WINDOWS = 8


class _GradSquares:
    """Tensor hooks on linear outputs that accumulate Σ_t g_t² per output channel."""

    def __init__(self, modules: dict[str, torch.nn.Module]) -> None:
        self.sums: dict[str, torch.Tensor] = {}
        self.tokens: dict[str, int] = {}
        self._handles = [m.register_forward_hook(self._hook(n)) for n, m in modules.items()]

    def _hook(self, name: str):  # type: ignore[no-untyped-def]
        def on_grad(g: torch.Tensor) -> None:
            g2 = g.detach().float().reshape(-1, g.shape[-1])  # [T, O]
            acc = (g2 * g2).sum(dim=0).double()  # [O]
            self.sums[name] = self.sums[name] + acc if name in self.sums else acc
            self.tokens[name] = self.tokens.get(name, 0) + g2.shape[0]

        def hook(module: torch.nn.Module, args: tuple, output: torch.Tensor) -> None:
            output.register_hook(on_grad)

        return hook

    def remove(self) -> None:
        """Detach the hooks."""
        for h in self._handles:
            h.remove()

    def means(self) -> dict[str, torch.Tensor]:
        """name -> [O] float32 mean squared output gradient."""
        return {n: (s / self.tokens[n]).float() for n, s in self.sums.items()}


def output_fisher(
    model_dir: Path, ids: torch.Tensor, *, linears: tuple[str, ...], device: str = "cpu"
) -> dict[str, torch.Tensor]:
    """Mean squared loss gradient per output channel of every decoder linear.

    Args:
        model_dir: dense HF folder.
        ids: [N, L] calibration token ids (one backward pass per window).
        linears: module names inside a decoder layer ("self_attn.q_proj", ...).
        device: torch device.

    Returns:
        "model.layers.{i}.{name}" -> [out_features] float32 on the CPU.
    """
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    model = model.to(device).eval().requires_grad_(False)
    modules = {
        f"model.layers.{i}.{n}": layer.get_submodule(n)
        for i, layer in enumerate(model.model.layers)
        for n in linears
    }
    squares = _GradSquares(modules)
    try:
        for row in ids.to(device):
            embeds = model.model.embed_tokens(row[None]).detach().requires_grad_(True)  # [1, L, d]
            logits = model(inputs_embeds=embeds).logits[0, :-1].float()  # [L-1, V]
            loss = torch.nn.functional.cross_entropy(logits, row[1:], reduction="sum")
            loss.backward()
    finally:
        squares.remove()
    return {n: d.cpu() for n, d in squares.means().items()}
