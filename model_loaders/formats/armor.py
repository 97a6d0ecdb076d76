"""armor format: Ŵ = A·S·B, S 2:4 (a sparse24 core), A and B block-diagonal wrappers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch

from kernels.reference import armor_dense
from model_loaders.checkpoint.specs import Format
from model_loaders.formats.base import FormatTensors, ShardPlan, packed24_plan
from model_loaders.formats.sparse24 import Sparse24Tensors


@dataclass(frozen=True)
class ArmorTensors(FormatTensors):
    """ARMOR factors of one layer."""

    A: torch.Tensor  # [O/bs, bs, bs]
    B: torch.Tensor  # [I/bs, bs, bs]
    values: torch.Tensor  # [O, I/2]
    meta: torch.Tensor  # [O, I/8] uint8
    format = Format.ARMOR

    @property
    def core(self) -> Sparse24Tensors:
        """The 2:4 core S [O, I] (views of values/meta)."""
        return Sparse24Tensors(self.values, self.meta)

    @property
    def shape(self) -> tuple[int, int]:
        return self.core.shape

    @property
    def block_size(self) -> int:
        """bs, the side of every diagonal block."""
        return int(self.A.shape[-1])

    def params(self) -> dict[str, int]:
        return {"block_size": self.block_size}

    def tensors(self) -> dict[str, torch.Tensor]:
        return {"A": self.A, "B": self.B, "values": self.values, "meta": self.meta}

    def to_dense(self) -> torch.Tensor:
        w = armor_dense(self.A.float(), self.values.float(), self.meta, self.B.float())
        return w.to(self.values.dtype)

    def validate(self, name: str) -> None:
        self.core.validate(name)

    def plan(self, mode: str) -> ShardPlan:
        return packed24_plan(self, mode, "armor")

    @classmethod
    def from_factors(cls, factors: Mapping[str, torch.Tensor]) -> ArmorTensors:
        """factors: a [O/bs, bs, bs], core [O, I] with its 2:4 mask, b [I/bs, bs, bs]."""
        return cls.from_dense(factors["a"], factors["core"] * factors["mask"], factors["b"])

    @classmethod
    def from_dense(cls, a: torch.Tensor, core: torch.Tensor, b: torch.Tensor) -> ArmorTensors:
        """Pack a 2:4 `core` [O, I] between wrappers a [O/bs, bs, bs] and b [I/bs, bs, bs]."""
        packed = Sparse24Tensors.from_dense(core, name="core")
        return cls(A=a, B=b, values=packed.values, meta=packed.meta)
