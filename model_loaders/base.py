"""The common shape of per-format tensor bundles, and the dense format itself."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import torch

from model_loaders.manifest import Format, LayerEntry


class FormatTensors(ABC):
    """The stored tensors of one linear layer in one format (docs/formats.md).

    Subclasses are frozen dataclasses; `write_checkpoint` takes a dict name -> FormatTensors.
    """

    format: Format

    @property
    @abstractmethod
    def out_features(self) -> int:
        """Rows of the effective weight."""

    @property
    @abstractmethod
    def in_features(self) -> int:
        """Columns of the effective weight."""

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


@dataclass(frozen=True)
class DenseTensors(FormatTensors):
    """A layer kept dense: weight [O, I]."""

    weight: torch.Tensor  # [O, I]
    format = Format.DENSE

    @property
    def out_features(self) -> int:
        return int(self.weight.shape[0])

    @property
    def in_features(self) -> int:
        return int(self.weight.shape[1])

    def tensors(self) -> dict[str, torch.Tensor]:
        return {"weight": self.weight}

    def to_dense(self) -> torch.Tensor:
        return self.weight
