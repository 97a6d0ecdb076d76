"""Which decoder layers a shallow draft keeps, chosen by measurement on calibration text.

Two measured scores, computed from the hidden states at every layer boundary of the dense
model on calibration windows (one layer in memory at a time):

* per-layer angular distance (ShortGPT's "block influence" on the angle): how far layer i turns
  its input, `arccos(cos(h_i, h_{i+1})) / π`, averaged over tokens. Keep the N largest.
* block angular distance (Gromov et al., "The Unreasonable Ineffectiveness of the Deeper
  Layers"): for a contiguous block of n = L - N layers starting at i, `d(h_i, h_{i+n})`; drop
  the block that turns the representation least.

Each candidate subset is then scored by what matters for a draft — its next-token loss on
held-out calibration windows, run through only the kept layers — and the lowest wins. The
naive "first N layers" subset is reported next to it for comparison.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

    from compress.layerwise import LayerwiseModel


@dataclass
class LayerSelection:
    """The chosen layers and the measurements behind the choice."""

    kept: list[int]
    rule: str
    angular: list[float]
    candidates: dict[str, dict[str, Any]] = field(default_factory=dict)

    def report(self) -> dict[str, Any]:
        """JSON-able summary."""
        return {
            "kept_layers": self.kept,
            "rule": self.rule,
            "angular_distance": [round(a, 5) for a in self.angular],
            "candidates": self.candidates,
        }


def angular_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean over tokens of arccos(cos(a, b)) / π.

    Args:
        a: [N, L, d] hidden states.
        b: [N, L, d] hidden states.

    Returns:
        A float in [0, 1].
    """
    import torch

    cos = torch.nn.functional.cosine_similarity(a.float(), b.float(), dim=-1)  # [N, L]
    return float(torch.arccos(cos.clamp(-1.0, 1.0)).mean() / math.pi)


def boundary_states(model: LayerwiseModel, ids: torch.Tensor) -> list[torch.Tensor]:
    """Hidden states entering every layer and leaving the last: L + 1 tensors [N, T, d]."""
    from tqdm import tqdm

    states = [model.embed(ids)]
    for i in tqdm(range(model.num_layers), desc="layer importance", leave=False):
        states.append(model.run_layer(model.load_layer(i), states[-1], batch=4))
    return states


def subset_loss(model: LayerwiseModel, ids: torch.Tensor, kept: list[int]) -> float:
    """Next-token cross-entropy of the model restricted to `kept` layers (final norm + head).

    Args:
        model: the dense model, layer-wise.
        ids: [N, T] token windows.
        kept: layer indices, ascending.

    Returns:
        Mean loss in nats per token.
    """
    hidden = model.embed(ids)
    for i in kept:
        hidden = model.run_layer(model.load_layer(i), hidden, batch=4)
    return head_loss(model, hidden, ids)


def head_loss(model: LayerwiseModel, hidden: torch.Tensor, ids: torch.Tensor) -> float:
    """Cross-entropy of final norm + lm_head over [N, T, d] final hidden states."""
    import torch

    norm_w = model.tensor("model.norm.weight")
    head_key = "lm_head.weight" if "lm_head.weight" in model._where else "model.embed_tokens.weight"
    head = model.tensor(head_key)  # [V, d]
    eps = float(getattr(model.config, "rms_norm_eps", 1e-6))
    total, count = 0.0, 0
    with torch.no_grad():
        for n in range(hidden.shape[0]):
            h = hidden[n].float()  # [T, d]
            h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + eps) * norm_w
            logits = h[:-1] @ head.T  # [T-1, V]
            loss = torch.nn.functional.cross_entropy(logits, ids[n, 1:].to(logits.device))
            total += float(loss) * (ids.shape[1] - 1)
            count += ids.shape[1] - 1
    return total / count


def _block_choice(states: list[torch.Tensor], keep: int) -> list[int]:
    n_layers = len(states) - 1
    drop = n_layers - keep
    if drop <= 0:
        return list(range(n_layers))
    # never drop the last layer: the head reads its output space
    starts = range(0, n_layers - drop)
    best = min(starts, key=lambda i: angular_distance(states[i], states[i + drop]))
    return [i for i in range(n_layers) if not best <= i < best + drop]


def select_layers(
    model: LayerwiseModel, calib_ids: torch.Tensor, eval_ids: torch.Tensor, *, keep: int
) -> LayerSelection:
    """Choose `keep` decoder layers by measured importance, then by held-out draft loss.

    Args:
        model: the dense target, layer-wise.
        calib_ids: [N, T] windows for the angular scores.
        eval_ids: [M, T] disjoint windows for the subset loss.
        keep: layers to keep (1 ≤ keep ≤ L).

    Returns:
        The LayerSelection (kept layers ascending).
    """
    n_layers = model.num_layers
    if not 1 <= keep <= n_layers:
        raise ValueError(f"keep must be in [1, {n_layers}], got {keep}")
    states = boundary_states(model, calib_ids)
    angular = [angular_distance(states[i], states[i + 1]) for i in range(n_layers)]
    candidates: dict[str, list[int]] = {
        "angular_top": sorted(sorted(range(n_layers), key=lambda i: -angular[i])[:keep]),
        "angular_block": _block_choice(states, keep),
        "first_layers": list(range(keep)),
    }
    del states
    scored: dict[str, dict[str, Any]] = {}
    for rule, kept in candidates.items():
        loss = subset_loss(model, eval_ids, kept)
        scored[rule] = {"kept": kept, "loss": round(loss, 4), "ppl": _ppl(loss)}
    measured = {k: v for k, v in scored.items() if k != "first_layers"}
    rule = min(measured, key=lambda k: measured[k]["loss"])
    return LayerSelection(list(candidates[rule]), rule, angular, scored)


def _ppl(loss: float) -> float:
    return round(math.exp(min(loss, 700.0)), 2)
