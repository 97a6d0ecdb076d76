"""The contract of a format's engine-side tensor class, and the per-shard plan it produces."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch

from kernels import Forward, kernel
from model_loaders.checkpoint.manifest import LayerEntry
from model_loaders.checkpoint.specs import Format


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


class FormatTensors(ABC):
    """The stored tensors of one linear layer in one format (docs/formats.md).

    Subclasses are frozen dataclasses whose fields are the stored tensor names, so
    `cls(**{suffix: tensor})` rebuilds one from a checkpoint; `write_checkpoint` takes a dict
    name -> FormatTensors. Each subclass is one file of model_loaders/formats/ and one row of
    model_loaders.checkpoint.specs.FORMATS.
    """

    format: Format

    @property
    @abstractmethod
    def shape(self) -> tuple[int, int]:
        """(O, I) of the effective weight."""

    @property
    def out_features(self) -> int:
        """Rows of the effective weight."""
        return self.shape[0]

    @property
    def in_features(self) -> int:
        """Columns of the effective weight."""
        return self.shape[1]

    def params(self) -> dict[str, int]:
        """The format's own manifest keys (rank, block_size, ...)."""
        return {}

    def entry(self, name: str) -> LayerEntry:
        """The manifest entry describing these tensors under layer `name`."""
        return LayerEntry(name, self.format, self.out_features, self.in_features, self.params())

    @abstractmethod
    def tensors(self) -> dict[str, torch.Tensor]:
        """Tensor suffix -> tensor, exactly as stored (`<layer>.<suffix>`)."""

    @abstractmethod
    def to_dense(self) -> torch.Tensor:
        """The effective weight Ŵ: [O, I], in the floating dtype of the stored tensors."""

    def validate(self, name: str) -> None:  # noqa: B027  (optional hook)
        """Check stored values (masks, indices); raise a CheckpointError naming the tensor."""

    @abstractmethod
    def plan(self, mode: str) -> ShardPlan:
        """The cheapest runtime plan for these (validated) tensors.

        Args:
            mode: the 2:4 runtime mode, "dense" (2:4 parts unpacked once at load) or
                "compressed" (kept packed; kernels from kernels.dispatch).

        Returns:
            A ShardPlan over views of these tensors (or a dense copy).
        """

    @classmethod
    @abstractmethod
    def from_factors(cls, factors: Mapping[str, torch.Tensor]) -> FormatTensors:
        """Build from a compressor's factors (names as in compress.types.CompressedLinear)."""


def factored_plan(
    layer: FormatTensors, inner: int, factors: Callable[[], tuple[torch.Tensor, torch.Tensor]]
) -> ShardPlan:
    """Two GEMMs, `factors()` = (u [O, r], v [r, I]) with r = `inner`, when inner·(O + I) < O·I
    (cheaper than one dense GEMM); else the dense Ŵ [O, I]. Any 2:4 mode."""
    o, i = layer.shape
    if inner * (o + i) < o * i:
        return ShardPlan(o, factors=factors())
    return ShardPlan(o, dense=layer.to_dense())


def packed24_plan(layer: FormatTensors, mode: str, op: str) -> ShardPlan:
    """Plan of a format with a packed 2:4 part: dense Ŵ in mode "dense", else kernel `op`."""
    if mode == "dense":
        return ShardPlan(layer.out_features, dense=layer.to_dense())
    return ShardPlan(layer.out_features, forward=kernel(op, layer.tensors()))
