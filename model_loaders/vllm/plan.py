"""Runtime form of one vLLM linear layer: its shards' plans, fused where they can be.

Each shard's format plans itself (`FormatTensors.plan(mode)`, model_loaders/formats/);
`LinearPlan` runs the shards of one (possibly merged) vLLM layer and concatenates their outputs.
"""

from __future__ import annotations

import torch

from kernels import Forward, kernel
from model_loaders.formats.base import ShardPlan


def _gemm(weight: torch.Tensor) -> Forward:
    return kernel("dense", {"weight": weight})


def _dense_step(weights: list[torch.Tensor]) -> Forward:
    weight = weights[0] if len(weights) == 1 else torch.cat(weights, dim=0)
    # the GEMM owns its (possibly prepacked) copy; nothing else keeps `weight` alive
    return _gemm(weight.contiguous())


def _factored_step(factors: list[tuple[torch.Tensor, torch.Tensor]]) -> Forward:
    """One GEMM with every V stacked, then each U on its slice of the shared inner activation."""
    first = _gemm(torch.cat([v for _, v in factors], dim=0).contiguous())  # [ΣR, I]
    seconds = [_gemm(u.contiguous()) for u, _ in factors]
    bounds, start = [], 0
    for _, v in factors:
        bounds.append((start, start + int(v.shape[0])))
        start += int(v.shape[0])
    if len(factors) == 1:
        return lambda x: seconds[0](first(x))

    def forward(x: torch.Tensor) -> torch.Tensor:
        t = first(x)  # [N, ΣR]
        # fresh row-major copies: a strided slice (even a "contiguous" 1-row one) makes
        # oneDNN rebuild its primitive on every call (~10x slower at decode)
        parts = [
            g(t[..., a:b].clone(memory_format=torch.contiguous_format))
            for g, (a, b) in zip(seconds, bounds, strict=True)
        ]
        return torch.cat(parts, dim=-1)

    return forward


class LinearPlan:
    """All shards of one vLLM linear layer.

    Consecutive dense shards fuse into one GEMM; consecutive factored shards (two-GEMM plans)
    share one GEMM for their stacked V factors.
    """

    def __init__(self, shards: list[ShardPlan]) -> None:
        self.steps: list[Forward] = []
        kind: str = ""
        group: list[ShardPlan] = []
        for shard in shards:
            this = "dense" if shard.dense is not None else "factored" if shard.factors else "other"
            if this != kind or this == "other":
                self._flush(kind, group)
                kind, group = this, []
            group.append(shard)
        self._flush(kind, group)

    def _flush(self, kind: str, group: list[ShardPlan]) -> None:
        if not group:
            return
        if kind == "dense":
            self.steps.append(_dense_step([s.dense for s in group if s.dense is not None]))
        elif kind == "factored":
            self.steps.append(_factored_step([s.factors for s in group if s.factors is not None]))
        else:
            assert group[0].forward is not None
            self.steps.append(group[0].forward)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """x: [N, I] -> [N, sum(O)]."""
        if len(self.steps) == 1:
            return self.steps[0](x)
        return torch.cat([step(x) for step in self.steps], dim=-1)
