"""dense format: a layer kept as its plain weight [O, I]."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch

from model_loaders.checkpoint.specs import Format
from model_loaders.formats.base import FormatTensors, ShardPlan


@dataclass(frozen=True)
class DenseTensors(FormatTensors):
    """A layer kept dense: weight [O, I]."""

    weight: torch.Tensor  # [O, I]
    format = Format.DENSE

    @property
    def shape(self) -> tuple[int, int]:
        o, i = self.weight.shape
        return int(o), int(i)

    def tensors(self) -> dict[str, torch.Tensor]:
        return {"weight": self.weight}

    def to_dense(self) -> torch.Tensor:
        return self.weight

    def plan(self, mode: str) -> ShardPlan:
        return ShardPlan(self.out_features, dense=self.weight)

    @classmethod
    def from_factors(cls, factors: Mapping[str, torch.Tensor]) -> DenseTensors:
        """factors: weight [O, I]."""
        return cls(factors["weight"])
