"""spense format: a set of output rows dense, the remaining rows 2:4 (SpenseGPT-style hybrid)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from kernels.reference import spense_dense
from model_loaders.base import FormatTensors
from model_loaders.errors import InvalidIndexError
from model_loaders.manifest import Format
from model_loaders.sparse24 import check_meta, pack24


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
    def out_features(self) -> int:
        return int(self.dense_rows.shape[0] + self.values.shape[0])

    @property
    def in_features(self) -> int:
        return int(self.dense_weight.shape[1])

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
        check_meta(self.meta, name=f"{name}.meta")

    @classmethod
    def from_dense(cls, weight: torch.Tensor, dense_rows: torch.Tensor) -> SpenseTensors:
        """Split `weight` [O, I]: rows `dense_rows` stay dense, the rest must already be 2:4."""
        rows = dense_rows.to(torch.int64).unique(sorted=True)
        is_dense = torch.zeros(weight.shape[0], dtype=torch.bool)
        is_dense[rows] = True
        values, meta = pack24(weight[~is_dense], name="sparse rows")
        return cls(rows.to(torch.int32), weight[is_dense].contiguous(), values, meta)
