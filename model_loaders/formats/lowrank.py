"""lowrank format: W ≈ U·V with U [O, r], V [r, I] (MoDeGPT / SVD-LLM style)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch

from model_loaders.checkpoint.errors import RankMismatchError
from model_loaders.checkpoint.specs import Format
from model_loaders.formats.base import FormatTensors, ShardPlan, factored_plan


@dataclass(frozen=True)
class LowRankTensors(FormatTensors):
    """Low-rank factors of one layer."""

    U: torch.Tensor  # [O, r]
    V: torch.Tensor  # [r, I]
    format = Format.LOWRANK

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.U.shape[0]), int(self.V.shape[1])

    @property
    def rank(self) -> int:
        """r, the inner dimension."""
        return int(self.V.shape[0])

    def params(self) -> dict[str, int]:
        return {"rank": self.rank}

    def tensors(self) -> dict[str, torch.Tensor]:
        return {"U": self.U, "V": self.V}

    def to_dense(self) -> torch.Tensor:
        return (self.U.float() @ self.V.float()).to(self.U.dtype)

    def validate(self, name: str) -> None:
        if self.U.shape[1] != self.V.shape[0]:
            raise RankMismatchError(
                f"{name}.U", expected=f"rank {self.V.shape[0]} (V)", found=self.U.shape[1]
            )

    def plan(self, mode: str) -> ShardPlan:
        return factored_plan(self, self.rank, lambda: (self.U, self.V))

    @classmethod
    def from_factors(cls, factors: Mapping[str, torch.Tensor]) -> LowRankTensors:
        """factors: u [O, r], v [r, I]."""
        return cls(U=factors["u"], V=factors["v"])

    @classmethod
    def from_dense(cls, weight: torch.Tensor, *, rank: int) -> LowRankTensors:
        """Truncated SVD of `weight` [O, I]: U = Uₛ·√Σ, V = √Σ·Vₛᵀ, both in weight's dtype."""
        u, s, vh = torch.linalg.svd(weight.float(), full_matrices=False)
        root = s[:rank].sqrt()
        return cls(
            U=(u[:, :rank] * root).to(weight.dtype), V=(root[:, None] * vh[:rank]).to(weight.dtype)
        )
