"""Global rank allocation for svd/asvd: one dense pre-pass over every linear, one budget."""

from __future__ import annotations

from typing import TYPE_CHECKING

from compress.layerwise import LINEARS, SHARED_INPUT
from compress.methods import MethodConfig

if TYPE_CHECKING:
    import torch

    from compress.layerwise import LayerwiseModel


def global_ranks(
    model: LayerwiseModel,
    hidden: torch.Tensor,
    method: MethodConfig,
    fisher: dict[str, torch.Tensor] | None,
    *,
    batch: int,
) -> dict[str, int]:
    """Dense pre-pass: spectra (or Fisher-valued directions) of every linear, one budget.

    Args:
        model: the dense model, layer-wise.
        hidden: [N, L, d] calibration inputs of layer 0.
        method: svd or asvd, with allocation "global" or "fisher" and the target ratio.
        fisher: HF module name -> [out] output-channel Fisher (allocation "fisher" only).
        batch: sequences per forward.

    Returns:
        HF module name -> rank.
    """
    from tqdm import tqdm

    from compress import asvd, svd
    from compress.calibration import HessianCollector

    by_loss = method.allocation == "fisher"
    if by_loss and fisher is None:
        raise ValueError("allocation 'fisher' needs the output Fisher")
    values, shapes = {}, {}
    for i in tqdm(range(model.num_layers), desc="rank allocation (dense pre-pass)"):
        layer = model.load_layer(i)
        modules = {n: layer.get_submodule(n) for n in LINEARS}
        collector = HessianCollector(modules, aliases=SHARED_INPUT)
        out = model.run_layer(layer, hidden, batch=batch)
        collector.remove()
        hess = collector.hessians()
        for n, mod in modules.items():
            w = mod.weight.data.float().cpu()
            key = f"model.layers.{i}.{n}"
            shapes[key] = (int(w.shape[0]), int(w.shape[1]))
            if by_loss and fisher is not None:
                weighted = method.asvd_objective == "loss"
                values[key] = asvd.fisher_scores(w, hess[n].cpu(), fisher[key], weighted=weighted)
            else:
                mod_sv = svd if method.method == "svd" else asvd
                values[key] = mod_sv.singular_values(w, hess[n].cpu())
        hidden = out
    if by_loss:
        return svd.allocate_budget(values, shapes, method.ratio)
    return svd.allocate_ranks(values, shapes, method.ratio)
