"""sparse24 format: 2:4 along the input dim, stored as kept values + packed 2-bit positions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch

from kernels.reference import unpack24, unpack_positions
from model_loaders.checkpoint.errors import MaskNot24Error
from model_loaders.checkpoint.specs import Format
from model_loaders.formats.base import FormatTensors, ShardPlan, packed24_plan


def prune_magnitude24(weight: torch.Tensor) -> torch.Tensor:
    """Keep the 2 largest-magnitude entries of every group of 4 inputs. weight: [O, I] -> [O, I]."""
    o, i = weight.shape
    groups = weight.reshape(o, i // 4, 4)  # [O, I/4, 4]
    keep = groups.abs().float().topk(2, dim=-1).indices  # [O, I/4, 2]
    mask = torch.zeros_like(groups, dtype=torch.bool).scatter_(-1, keep, True)
    return (groups * mask).reshape(o, i)


def pack24(weight: torch.Tensor, *, name: str = "weight") -> tuple[torch.Tensor, torch.Tensor]:
    """Pack a 2:4-sparse matrix.

    Args:
        weight: [R, C] with at most 2 non-zeros in every group of 4 consecutive columns.
        name: tensor name for the error message.

    Returns:
        (values [R, C/2] in weight's dtype, meta [R, C/8] uint8), docs/formats.md encoding.
    """
    rows, cols = weight.shape
    if cols % 8:
        raise MaskNot24Error(name, expected="columns divisible by 8", found=cols)
    groups = weight.reshape(rows, cols // 4, 4)  # [R, G, 4]
    nonzero = groups != 0
    worst = int(nonzero.sum(-1).max()) if groups.numel() else 0
    if worst > 2:
        raise MaskNot24Error(name, expected="<= 2 non-zeros per group of 4", found=f"{worst}")
    # Non-zeros first, then lowest position; keep two and sort them ascending.
    key = nonzero.to(torch.int64) * 8 + (3 - torch.arange(4))  # [R, G, 4]
    pos = key.topk(2, dim=-1).indices.sort(dim=-1).values  # [R, G, 2]
    values = groups.gather(-1, pos).reshape(rows, cols // 2)
    nib = (pos[..., 0] | (pos[..., 1] << 2)).reshape(rows, cols // 8, 2)  # [R, C/8, 2]
    meta = (nib[..., 0] | (nib[..., 1] << 4)).to(torch.uint8)
    return values, meta


def check_meta(meta: torch.Tensor, *, name: str) -> None:
    """Raise MaskNot24Error when a position code has p0 >= p1."""
    bad = (unpack_positions(meta) < 0).nonzero()
    if bad.numel():
        row, col = (int(v) for v in bad[0])
        byte = int(meta[row, col // 4])
        raise MaskNot24Error(
            name,
            expected="position codes p0 < p1",
            found=f"byte {byte:#04x} at [{row}, {col // 4}]",
        )


@dataclass(frozen=True)
class Sparse24Tensors(FormatTensors):
    """Packed 2:4 weight of one layer (also the 2:4 core of spense and armor)."""

    values: torch.Tensor  # [O, I/2]
    meta: torch.Tensor  # [O, I/8] uint8
    format = Format.SPARSE24

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.values.shape[0]), int(self.values.shape[1]) * 2

    def tensors(self) -> dict[str, torch.Tensor]:
        return {"values": self.values, "meta": self.meta}

    def to_dense(self) -> torch.Tensor:
        return unpack24(self.values, self.meta)

    def validate(self, name: str) -> None:
        check_meta(self.meta, name=f"{name}.meta")

    def plan(self, mode: str) -> ShardPlan:
        return packed24_plan(self, mode, "sparse24")

    @classmethod
    def from_factors(cls, factors: Mapping[str, torch.Tensor]) -> Sparse24Tensors:
        """factors: weight [O, I] and its 2:4 mask [O, I] bool."""
        return cls.from_dense(factors["weight"] * factors["mask"])

    @classmethod
    def from_dense(cls, weight: torch.Tensor, *, name: str = "weight") -> Sparse24Tensors:
        """Pack an already 2:4-sparse weight [O, I] (see `prune_magnitude24`); `name` is the
        tensor named in a MaskNot24Error."""
        values, meta = pack24(weight, name=name)
        return cls(values=values, meta=meta)
