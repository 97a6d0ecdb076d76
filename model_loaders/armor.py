"""armor format: Ŵ = A·S·B, S 2:4 (packed as sparse24), A and B block-diagonal wrappers."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from kernels.reference import armor_dense
from model_loaders.base import FormatTensors
from model_loaders.manifest import Format
from model_loaders.sparse24 import check_meta, pack24


@dataclass(frozen=True)
class ArmorTensors(FormatTensors):
    """ARMOR factors of one layer."""

    A: torch.Tensor  # [O/bs, bs, bs]
    B: torch.Tensor  # [I/bs, bs, bs]
    values: torch.Tensor  # [O, I/2]
    meta: torch.Tensor  # [O, I/8] uint8
    format = Format.ARMOR

    @property
    def out_features(self) -> int:
        return int(self.values.shape[0])

    @property
    def in_features(self) -> int:
        return int(self.values.shape[1]) * 2

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
        check_meta(self.meta, name=f"{name}.meta")

    @classmethod
    def from_dense(cls, a: torch.Tensor, core: torch.Tensor, b: torch.Tensor) -> ArmorTensors:
        """Pack a 2:4 `core` [O, I] between wrappers a [O/bs, bs, bs] and b [I/bs, bs, bs]."""
        values, meta = pack24(core, name="core")
        return cls(A=a, B=b, values=values, meta=meta)
