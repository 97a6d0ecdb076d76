"""Dense-output calibration target: fit each compressed layer to the *dense* model's outputs.

Sequential calibration feeds layer i the activations X̂ of the already-compressed layers, so the
plain objective ‖(W − Ŵ) X̂‖² only asks Ŵ to copy W on inputs that have already drifted. Asking
instead for the dense model's outputs, ‖W X − Ŵ X̂‖² (X: the dense model's inputs at the same
tokens), lets every layer correct the error of the layers before it (the asymmetric calibration
of GPTAQ, Li et al. 2025; SVD-LLM's sequential update plays the same role).

With Ĥ = X̂X̂ᵀ/n and M = X X̂ᵀ/n, ‖W X − Ŵ X̂‖²/n = ‖(Ŵ − W*) Ĥ^½‖² + const, with
W* = W M Ĥ⁻¹. So every method runs unchanged on the target weight W* and the Hessian Ĥ.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


class CrossCollector:
    """Accumulate Ĥ = Σ x̂ x̂ᵀ / n and M = Σ x x̂ᵀ / n for named linears of two copies of a layer.

    Run the dense copy on a batch first (its hooks store x), then the working copy on the same
    batch (its hooks accumulate with the stored x). Aliased names share their target's inputs.
    """

    def __init__(
        self,
        dense: dict[str, torch.nn.Module],
        work: dict[str, torch.nn.Module],
        *,
        aliases: dict[str, str] | None = None,
    ) -> None:
        self._aliases = {a: b for a, b in (aliases or {}).items() if a in work and b in work}
        names = [n for n in work if n not in self._aliases]
        self._x: dict[str, torch.Tensor] = {}
        self._h: dict[str, torch.Tensor] = {}
        self._m: dict[str, torch.Tensor] = {}
        self._n: dict[str, int] = {}
        self._handles = [dense[n].register_forward_hook(self._store(n)) for n in names]
        self._handles += [work[n].register_forward_hook(self._accumulate(n)) for n in names]

    def _store(self, name: str):  # type: ignore[no-untyped-def]
        def hook(module: torch.nn.Module, args: tuple, output: object) -> None:
            self._x[name] = args[0].detach().reshape(-1, args[0].shape[-1]).float()  # [T, in]

        return hook

    def _accumulate(self, name: str):  # type: ignore[no-untyped-def]
        def hook(module: torch.nn.Module, args: tuple, output: object) -> None:
            xh = args[0].detach().reshape(-1, args[0].shape[-1]).float()  # [T, in]
            x = self._x.pop(name)  # [T, in]
            hh, m = (xh.T @ xh).double(), (x.T @ xh).double()
            self._h[name] = self._h[name] + hh if name in self._h else hh
            self._m[name] = self._m[name] + m if name in self._m else m
            self._n[name] = self._n.get(name, 0) + xh.shape[0]

        return hook

    def remove(self) -> None:
        """Detach every hook."""
        for h in self._handles:
            h.remove()

    def moments(self) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """name -> (Ĥ [in, in], M [in, in]) as float32 (aliases included)."""
        out = {
            n: ((h / self._n[n]).float(), (self._m[n] / self._n[n]).float())
            for n, h in self._h.items()
        }
        for a, b in self._aliases.items():
            out[a] = out[b]
        return out


def dense_target(
    weight: torch.Tensor, h_hat: torch.Tensor, cross: torch.Tensor, *, damp: float = 0.01
) -> torch.Tensor:
    """W* = W M (Ĥ + λI)⁻¹, the weight whose output on X̂ best matches W's on X.

    Args:
        weight: [out, in] dense weight W.
        h_hat: [in, in] Ĥ, second moment of the compressed model's inputs.
        cross: [in, in] M = Σ x x̂ᵀ / n.
        damp: λ = damp · mean(diag Ĥ).

    Returns:
        [out, in] float32 target weight.
    """
    import torch

    h = h_hat.double().clone()
    h.diagonal().add_(damp * h.diagonal().mean().clamp_min(1e-12))
    rhs = (weight.double() @ cross.double()).T  # [in, out]
    return torch.linalg.solve(h, rhs).T.float()  # Ĥ symmetric: (Ĥ⁻¹ Mᵀ Wᵀ)ᵀ = W M Ĥ⁻¹
