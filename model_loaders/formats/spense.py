"""spense format: a set of output rows dense, the remaining rows 2:4 (SpenseGPT-style hybrid)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch

from kernels import kernel
from kernels.reference import spense_dense
from model_loaders.checkpoint.errors import InvalidIndexError
from model_loaders.checkpoint.specs import Format
from model_loaders.formats.base import FormatTensors, ShardPlan
from model_loaders.formats.sparse24 import Sparse24Tensors


def check_rows(rows: torch.Tensor, out_features: int, *, name: str) -> None:
    """Raise InvalidIndexError unless `rows` is strictly increasing in [0, out_features)."""
    if rows.numel() == 0:
        return
    r = rows.long()
    if int(r.min()) < 0 or int(r.max()) >= out_features:
        raise InvalidIndexError(
            name, expected=f"rows in [0, {out_features})", found=f"[{int(r.min())}, {int(r.max())}]"
        )
    if r.numel() > 1 and not bool((r[1:] > r[:-1]).all()):
        raise InvalidIndexError(name, expected="strictly increasing rows", found=r.tolist()[:8])


@dataclass(frozen=True)
class SpenseTensors(FormatTensors):
    """Hybrid layer: `dense_rows` of the output dense, the other rows (ascending) packed 2:4."""

    dense_rows: torch.Tensor  # [n] int32
    dense_weight: torch.Tensor  # [n, I]
    values: torch.Tensor  # [O - n, I/2]
    meta: torch.Tensor  # [O - n, I/8] uint8
    format = Format.SPENSE

    @property
    def core(self) -> Sparse24Tensors:
        """The 2:4 rows [O - n, I] (views of values/meta)."""
        return Sparse24Tensors(self.values, self.meta)

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.dense_rows.shape[0] + self.values.shape[0]), int(self.dense_weight.shape[1])

    def params(self) -> dict[str, int]:
        return {"dense_rows": int(self.dense_rows.shape[0])}

    def tensors(self) -> dict[str, torch.Tensor]:
        return {
            "dense_rows": self.dense_rows,
            "dense_weight": self.dense_weight,
            "values": self.values,
            "meta": self.meta,
        }

    def to_dense(self) -> torch.Tensor:
        return spense_dense(self.dense_rows, self.dense_weight, self.values, self.meta)

    def validate(self, name: str) -> None:
        check_rows(self.dense_rows, self.out_features, name=f"{name}.dense_rows")
        self.core.validate(name)

    def plan(self, mode: str) -> ShardPlan:
        """Dense Ŵ in mode "dense"; else a dense GEMM for the dense rows and the 2:4 kernel for
        the others, scattered into their output columns."""
        o = self.out_features
        if mode == "dense":
            return ShardPlan(o, dense=self.to_dense())
        rows = self.dense_rows.long()  # [n]
        is_dense = torch.zeros(o, dtype=torch.bool, device=rows.device)
        is_dense[rows] = True
        other = (~is_dense).nonzero().squeeze(1)  # [O - n]
        dense_part = kernel("dense", {"weight": self.dense_weight})
        sparse_part = kernel("sparse24", self.core.tensors())

        def forward(x: torch.Tensor) -> torch.Tensor:
            y = x.new_empty(*x.shape[:-1], o)  # [..., O]
            y.index_copy_(-1, rows, dense_part(x))
            y.index_copy_(-1, other, sparse_part(x))
            return y

        return ShardPlan(o, forward=forward)

    @classmethod
    def from_factors(cls, factors: Mapping[str, torch.Tensor]) -> SpenseTensors:
        """factors (row variant): dense_weight [n, I], dense_index [n], sparse_weight
        [O - n, I] (2:4), sparse_index [O - n]."""
        dense, sparse = factors["dense_weight"], factors["sparse_weight"]
        w = dense.new_zeros(dense.shape[0] + sparse.shape[0], dense.shape[1])  # [O, I]
        w[factors["dense_index"]] = dense
        w[factors["sparse_index"]] = sparse
        return cls.from_dense(w, factors["dense_index"])

    @classmethod
    def from_dense(cls, weight: torch.Tensor, dense_rows: torch.Tensor) -> SpenseTensors:
        """Split `weight` [O, I]: rows `dense_rows` stay dense, the rest must already be 2:4."""
        rows = dense_rows.to(torch.int64).unique(sorted=True)
        is_dense = torch.zeros(weight.shape[0], dtype=torch.bool)
        is_dense[rows] = True
        core = Sparse24Tensors.from_dense(weight[~is_dense], name="sparse rows")
        return cls(rows.to(torch.int32), weight[is_dense].contiguous(), core.values, core.meta)
