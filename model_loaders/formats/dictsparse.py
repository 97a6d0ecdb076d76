"""dictsparse format: W ≈ D·C, D [O, k] dense, C [k, I] with s stored entries per column."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch

from kernels import kernel
from kernels.reference import dictsparse_coefficients
from model_loaders.checkpoint.errors import InvalidIndexError
from model_loaders.checkpoint.specs import Format, index_dtype
from model_loaders.formats.base import FormatTensors, ShardPlan, factored_plan

_INDEX_TORCH = {"I16": torch.int16, "I32": torch.int32}


def narrow_index(index: torch.Tensor, atoms: int) -> torch.Tensor:
    """`index` in the dtype it is stored in: int16 when atoms <= 32767, else int32.

    Args:
        index: [s, I] valid row indices (check_index) of any integer dtype.
        atoms: k, the dictionary size.

    Returns:
        The same indices as int16 or int32 (checkpoint.specs.index_dtype decides).
    """
    return index.to(_INDEX_TORCH[index_dtype(atoms)])


def check_index(index: torch.Tensor, atoms: int, *, name: str) -> None:
    """Raise InvalidIndexError unless every column of `index` [s, I] has distinct rows in [0, k)."""
    if index.numel() == 0:
        return
    lo, hi = int(index.min()), int(index.max())
    if lo < 0 or hi >= atoms:
        raise InvalidIndexError(name, expected=f"entries in [0, {atoms})", found=f"[{lo}, {hi}]")
    ordered = index.long().sort(dim=0).values  # [s, I]
    dup = (ordered[1:] == ordered[:-1]).any(dim=0).nonzero()
    if dup.numel():
        raise InvalidIndexError(
            name, expected="distinct rows per column", found=f"repeat in column {int(dup[0])}"
        )


@dataclass(frozen=True)
class DictSparseTensors(FormatTensors):
    """Dictionary D and column-sparse coefficients C of one layer."""

    D: torch.Tensor  # [O, k]
    C_values: torch.Tensor  # [s, I]
    C_index: torch.Tensor  # [s, I] integer (stored as int16 or int32: narrow_index)
    format = Format.DICTSPARSE

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.D.shape[0]), int(self.C_values.shape[1])

    def params(self) -> dict[str, int]:
        return {"atoms": int(self.D.shape[1]), "nnz_per_column": int(self.C_values.shape[0])}

    def tensors(self) -> dict[str, torch.Tensor]:
        """As stored: C_index narrowed to int16 when atoms <= 32767 (else int32)."""
        index = narrow_index(self.C_index, int(self.D.shape[1]))
        return {"D": self.D, "C_values": self.C_values, "C_index": index}

    def coefficients(self) -> torch.Tensor:
        """Dense C [k, I] in the stored dtype."""
        return dictsparse_coefficients(self.C_values, self.C_index, int(self.D.shape[1]))

    def to_dense(self) -> torch.Tensor:
        c = dictsparse_coefficients(self.C_values.float(), self.C_index, int(self.D.shape[1]))
        return (self.D.float() @ c).to(self.D.dtype)

    def validate(self, name: str) -> None:
        check_index(self.C_index, int(self.D.shape[1]), name=f"{name}.C_index")

    def plan(self, mode: str) -> ShardPlan:
        """Mode "compressed": the dictsparse kernel on the stored D, C_values, C_index; mode
        "dense": D·(C·x) with C made dense [k, I] (two GEMMs), or Ŵ when that is cheaper."""
        if mode == "compressed":
            return ShardPlan(self.out_features, forward=kernel("dictsparse", self.tensors()))
        return factored_plan(self, int(self.D.shape[1]), lambda: (self.D, self.coefficients()))

    @classmethod
    def from_factors(cls, factors: Mapping[str, torch.Tensor]) -> DictSparseTensors:
        """factors: dictionary [O, k], coef_values [s, I], coef_index [s, I]."""
        index = narrow_index(factors["coef_index"], int(factors["dictionary"].shape[1]))
        return cls(D=factors["dictionary"], C_values=factors["coef_values"], C_index=index)

    @classmethod
    def from_dense(
        cls, d: torch.Tensor, c: torch.Tensor, *, nnz_per_column: int
    ) -> DictSparseTensors:
        """Keep the `nnz_per_column` largest |C| entries of each column of c [k, I]; the index
        in its stored dtype (narrow_index)."""
        idx = c.abs().float().topk(nnz_per_column, dim=0).indices.sort(dim=0).values  # [s, I]
        return cls(D=d, C_values=c.gather(0, idx), C_index=narrow_index(idx, int(c.shape[0])))
