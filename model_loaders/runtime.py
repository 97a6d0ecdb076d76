"""Runtime form of a loaded layer: per-shard compute plans for the vLLM linear method.

`prepare_shard` turns a validated tensor bundle into the cheapest plan for the chosen 2:4 mode;
`LinearPlan` runs the shards of one (possibly merged) vLLM layer and concatenates their outputs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

import kernels
from kernels.cpu_gemm import dense_gemm
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
        forward: x [..., I] -> [..., O] when `dense` is None.
    """

    out_features: int
    dense: torch.Tensor | None = None
    forward: Forward | None = None


def _compressed24(values: torch.Tensor, meta: torch.Tensor) -> Forward:
    table = kernels.torch_fast.nibble_table_on(values.device)

    def forward(x: torch.Tensor) -> torch.Tensor:
        # decoded on the fly: [R, C] temporary, freed after the GEMM
        w = kernels.torch_fast.unpack24_fast(values, meta, table)
        return torch.nn.functional.linear(x, w)

    return forward


def _lowrank(u: torch.Tensor, v: torch.Tensor) -> Forward:
    first, second = dense_gemm(v), dense_gemm(u)
    return lambda x: second(first(x))


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
    a, b = layer.A, layer.B
    core = _compressed24(layer.values, layer.meta)

    def forward(x: torch.Tensor) -> torch.Tensor:
        z = kernels.blockdiag_apply(x, b)  # [..., I]
        return kernels.blockdiag_apply(core(z), a)  # [..., O]

    return forward


def _dictsparse(layer: DictSparseTensors) -> Forward:
    c = layer.coefficients()  # [k, I]
    return _lowrank(layer.D, c)


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
        return ShardPlan(o, forward=_lowrank(layer.U, layer.V))
    if isinstance(layer, DictSparseTensors):
        if not _factored_is_cheaper(o, i, int(layer.D.shape[1])):
            return ShardPlan(o, dense=layer.to_dense())
        return ShardPlan(o, forward=_dictsparse(layer))
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


class LinearPlan:
    """All shards of one vLLM linear layer; consecutive dense shards are fused into one GEMM."""

    def __init__(self, shards: list[ShardPlan]) -> None:
        self.steps: list[Forward] = []
        pending: list[torch.Tensor] = []
        for shard in shards:
            if shard.dense is not None:
                pending.append(shard.dense)
                continue
            self._flush(pending)
            pending = []
            assert shard.forward is not None
            self.steps.append(shard.forward)
        self._flush(pending)

    def _flush(self, pending: list[torch.Tensor]) -> None:
        if not pending:
            return
        weight = pending[0] if len(pending) == 1 else torch.cat(pending, dim=0)
        # the GEMM owns its (possibly prepacked) copy; nothing else keeps `weight` alive
        self.steps.append(dense_gemm(weight.contiguous()))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """x: [N, I] -> [N, sum(O)]."""
        if len(self.steps) == 1:
            return self.steps[0](x)
        return torch.cat([step(x) for step in self.steps], dim=-1)
