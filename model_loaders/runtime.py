"""Runtime form of a loaded layer: per-shard compute plans for the vLLM linear method.

`prepare_shard` turns a validated tensor bundle into the cheapest plan for the chosen 2:4 mode;
`LinearPlan` runs the shards of one (possibly merged) vLLM layer and concatenates their outputs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

import kernels
from kernels import native, native_ops
from kernels.cpu_gemm import dense_gemm
from kernels.cuda_sparse24 import semi_structured_gemm
from model_loaders.armor import ArmorTensors
from model_loaders.base import DenseTensors, FormatTensors
from model_loaders.dictsparse import DictSparseTensors
from model_loaders.lowrank import LowRankTensors
from model_loaders.sparse24 import Sparse24Tensors
from model_loaders.spense import SpenseTensors

Forward = Callable[[torch.Tensor], torch.Tensor]


@dataclass
class ShardPlan:
    """How one logical weight is computed: either a dense matrix, or a forward function.

    Attributes:
        out_features: rows of the effective weight.
        dense: the effective weight [O, I] when the plan is "one dense GEMM" (fusable), else None.
        factors: (U [O, r], V [r, I]) when the plan is "two GEMMs" (fusable with neighbours).
        forward: x [..., I] -> [..., O] otherwise.
    """

    out_features: int
    dense: torch.Tensor | None = None
    factors: tuple[torch.Tensor, torch.Tensor] | None = None
    forward: Forward | None = None


def _compressed24(values: torch.Tensor, meta: torch.Tensor) -> Forward:
    if values.is_cuda:  # cuSPARSELt / CUTLASS keep their own 2:4 encoding
        gemm = semi_structured_gemm(kernels.unpack24(values, meta))
        if gemm is not None:
            return gemm
    if native.use_native(values):  # reads values/meta as stored (kernels/native.py)
        return native_ops.Sparse24(values, meta)
    table = kernels.torch_fast.nibble_table_on(values.device)

    def forward(x: torch.Tensor) -> torch.Tensor:
        # decoded on the fly: [R, C] temporary, freed after the GEMM
        w = kernels.torch_fast.unpack24_fast(values, meta, table)
        return torch.nn.functional.linear(x, w)

    return forward


def _spense(layer: SpenseTensors, mode: str) -> Forward:
    rows = layer.dense_rows.long()  # [n]
    is_dense = torch.zeros(layer.out_features, dtype=torch.bool, device=rows.device)
    is_dense[rows] = True
    other = (~is_dense).nonzero().squeeze(1)  # [O - n]
    dense_part = dense_gemm(layer.dense_weight)
    if mode == "compressed":
        sparse_part = _compressed24(layer.values, layer.meta)
    else:
        sparse_part = dense_gemm(kernels.unpack24(layer.values, layer.meta))
    out_features = layer.out_features

    def forward(x: torch.Tensor) -> torch.Tensor:
        y = x.new_empty(*x.shape[:-1], out_features)  # [..., O]
        y.index_copy_(-1, rows, dense_part(x))
        y.index_copy_(-1, other, sparse_part(x))
        return y

    return forward


def _armor(layer: ArmorTensors) -> Forward:
    if native.use_native(layer.values):  # A(S(Bx)) in one native call
        return native_ops.PackedArmor(layer.A, layer.values, layer.meta, layer.B)
    a, b = layer.A, layer.B
    core = _compressed24(layer.values, layer.meta)

    def forward(x: torch.Tensor) -> torch.Tensor:
        z = kernels.blockdiag_apply(x, b)  # [..., I]
        return kernels.blockdiag_apply(core(z), a)  # [..., O]

    return forward


def _factored_is_cheaper(out_features: int, in_features: int, inner: int) -> bool:
    return inner * (out_features + in_features) < out_features * in_features


def prepare_shard(layer: FormatTensors, *, mode: str) -> ShardPlan:
    """The fastest plan for one validated layer.

    Args:
        layer: the layer's tensors (views into the loaded parameters).
        mode: "dense" (2:4 parts unpacked once) or "compressed" (unpacked on the fly).

    Returns:
        A ShardPlan. Factored formats keep their factors only when that is cheaper than dense.
    """
    o, i = layer.out_features, layer.in_features
    if isinstance(layer, DenseTensors):
        return ShardPlan(o, dense=layer.weight)
    if isinstance(layer, LowRankTensors):
        if not _factored_is_cheaper(o, i, layer.rank):
            return ShardPlan(o, dense=layer.to_dense())
        return ShardPlan(o, factors=(layer.U, layer.V))
    if isinstance(layer, DictSparseTensors):
        if not _factored_is_cheaper(o, i, int(layer.D.shape[1])):
            return ShardPlan(o, dense=layer.to_dense())
        return ShardPlan(o, factors=(layer.D, layer.coefficients()))
    if mode == "dense":
        return ShardPlan(o, dense=layer.to_dense())
    if isinstance(layer, Sparse24Tensors):
        fwd = _compressed24(layer.values, layer.meta)
        return ShardPlan(o, forward=fwd)
    if isinstance(layer, SpenseTensors):
        return ShardPlan(o, forward=_spense(layer, mode))
    if isinstance(layer, ArmorTensors):
        return ShardPlan(o, forward=_armor(layer))
    raise TypeError(f"no plan for {type(layer).__name__}")


def _dense_step(weights: list[torch.Tensor]) -> Forward:
    weight = weights[0] if len(weights) == 1 else torch.cat(weights, dim=0)
    # the GEMM owns its (possibly prepacked) copy; nothing else keeps `weight` alive
    return dense_gemm(weight.contiguous())


def _factored_step(factors: list[tuple[torch.Tensor, torch.Tensor]]) -> Forward:
    """One GEMM with every V stacked, then each U on its slice of the shared inner activation."""
    first = dense_gemm(torch.cat([v for _, v in factors], dim=0).contiguous())  # [ΣR, I]
    seconds = [dense_gemm(u.contiguous()) for u, _ in factors]
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

    Consecutive dense shards fuse into one GEMM; consecutive factored shards (lowrank,
    dictsparse) share one GEMM for their stacked V factors.
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
