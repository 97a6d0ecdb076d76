"""One torch-free declaration per storage format, in one table (docs/formats.md).

A `FormatSpec` row says everything the checkpoint side knows about a format: its own integer
manifest keys, the checks on an entry, the stored tensors with their shapes and dtypes, which
tensor dimensions are ranks, and which engine-side class (model_loaders/formats/) holds its
tensors. Adding a format is one enum member and one row here plus its own file there.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from model_loaders.checkpoint.errors import ManifestError

FLOAT = "float"  # dtype placeholder: the checkpoint's floating dtype (F16, BF16 or F32)
FLOAT_DTYPES = ("F16", "BF16", "F32")
INDEX = "index"  # dtype placeholder: an index tensor, I16 or I32 (narrow to wide)
INDEX_DTYPES = ("I16", "I32")
MAX_I16_ATOMS = 32767  # I16 indices only for atoms <= this (docs/formats.md)
DTYPE_BYTES = {"F16": 2, "BF16": 2, "F32": 4, "F64": 8, "U8": 1, "I8": 1, "I16": 2, "I32": 4}
DTYPE_BYTES |= {"I64": 8, "BOOL": 1}


class Format(StrEnum):
    """Per-layer storage formats (docs/formats.md)."""

    DENSE = "dense"
    LOWRANK = "lowrank"
    SPARSE24 = "sparse24"
    SPENSE = "spense"
    ARMOR = "armor"
    DICTSPARSE = "dictsparse"


@dataclass(frozen=True)
class TensorSpec:
    """Expected shape and dtype (a safetensors dtype name, FLOAT or INDEX) of one stored tensor."""

    shape: tuple[int, ...]
    dtype: str

    def accepted(self) -> tuple[str, ...]:
        """The safetensors dtype names this spec accepts (a placeholder expands to its set)."""
        if self.dtype == FLOAT:
            return FLOAT_DTYPES
        if self.dtype == INDEX:
            return INDEX_DTYPES
        return (self.dtype,)


def index_dtype(atoms: int) -> str:
    """The dtype writers store a dictsparse index over `atoms` rows in: I16 when every index
    fits (atoms <= 32767), else I32. The one place this choice is made (docs/formats.md)."""
    return "I16" if atoms <= MAX_I16_ATOMS else "I32"


Params = Mapping[str, int]
Tensors = Callable[[int, int, Params], dict[str, TensorSpec]]
Check = Callable[[str, int, int, Params], None]


def _no_check(where: str, o: int, i: int, p: Params) -> None:
    return None


@dataclass(frozen=True)
class FormatSpec:
    """The torch-free declaration of one format.

    Attributes:
        keys: the format's own integer keys in a manifest entry (besides out/in_features).
        tensors: (out_features, in_features, params) -> tensor suffix -> expected spec.
        check: (entry name, out, in, params) -> None; raises ManifestError on a bad entry.
        rank_dims: tensor suffix -> the dimension that is a rank (a mismatch there is reported
            as RankMismatchError).
        engine_class: "module:Class" of the engine-side tensor class (model_loaders/formats/).
    """

    keys: tuple[str, ...]
    tensors: Tensors
    engine_class: str
    check: Check = _no_check
    rank_dims: Mapping[str, int] = field(default_factory=dict)


def packed24(rows: int, cols: int) -> dict[str, TensorSpec]:
    """The packed 2:4 pair: values [rows, cols/2] and meta [rows, cols/8] uint8."""
    return {
        "values": TensorSpec((rows, cols // 2), FLOAT),
        "meta": TensorSpec((rows, cols // 8), "U8"),
    }


def _check_24(where: str, o: int, i: int, p: Params) -> None:
    if i % 8:
        raise ManifestError(f"{where}.in_features", expected="a multiple of 8", found=i)


def _check_lowrank(where: str, o: int, i: int, p: Params) -> None:
    if p["rank"] < 1:
        raise ManifestError(f"{where}.rank", expected=">= 1", found=p["rank"])


def _check_spense(where: str, o: int, i: int, p: Params) -> None:
    _check_24(where, o, i, p)
    if p["dense_rows"] > o:
        raise ManifestError(f"{where}.dense_rows", expected=f"<= out_features {o}", found=p)


def _check_armor(where: str, o: int, i: int, p: Params) -> None:
    _check_24(where, o, i, p)
    bs = p["block_size"]
    if bs < 1 or o % bs or i % bs:
        raise ManifestError(f"{where}.block_size", expected=f"a divisor of {o} and {i}", found=bs)


def _check_dictsparse(where: str, o: int, i: int, p: Params) -> None:
    k, s = p["atoms"], p["nnz_per_column"]
    if not 1 <= s <= k:
        raise ManifestError(f"{where}.nnz_per_column", expected=f"in [1, atoms={k}]", found=s)


def _dense(o: int, i: int, p: Params) -> dict[str, TensorSpec]:
    return {"weight": TensorSpec((o, i), FLOAT)}


def _lowrank(o: int, i: int, p: Params) -> dict[str, TensorSpec]:
    r = p["rank"]
    return {"U": TensorSpec((o, r), FLOAT), "V": TensorSpec((r, i), FLOAT)}


def _spense(o: int, i: int, p: Params) -> dict[str, TensorSpec]:
    n = p["dense_rows"]
    return {
        "dense_rows": TensorSpec((n,), "I32"),
        "dense_weight": TensorSpec((n, i), FLOAT),
        **packed24(o - n, i),
    }


def _armor(o: int, i: int, p: Params) -> dict[str, TensorSpec]:
    bs = p["block_size"]
    return {
        "A": TensorSpec((o // bs, bs, bs), FLOAT),
        "B": TensorSpec((i // bs, bs, bs), FLOAT),
        **packed24(o, i),
    }


def _dictsparse(o: int, i: int, p: Params) -> dict[str, TensorSpec]:
    k, s = p["atoms"], p["nnz_per_column"]
    # readers accept I16 or I32 when I16 can address every atom, else only I32
    index = INDEX if index_dtype(k) == "I16" else "I32"
    return {
        "D": TensorSpec((o, k), FLOAT),
        "C_values": TensorSpec((s, i), FLOAT),
        "C_index": TensorSpec((s, i), index),
    }


_ENGINE = "model_loaders.formats"
FORMATS: dict[Format, FormatSpec] = {
    Format.DENSE: FormatSpec(keys=(), tensors=_dense, engine_class=f"{_ENGINE}.dense:DenseTensors"),
    Format.LOWRANK: FormatSpec(
        keys=("rank",),
        tensors=_lowrank,
        engine_class=f"{_ENGINE}.lowrank:LowRankTensors",
        check=_check_lowrank,
        rank_dims={"U": 1, "V": 0},
    ),
    Format.SPARSE24: FormatSpec(
        keys=(),
        tensors=lambda o, i, p: packed24(o, i),
        engine_class=f"{_ENGINE}.sparse24:Sparse24Tensors",
        check=_check_24,
    ),
    Format.SPENSE: FormatSpec(
        keys=("dense_rows",),
        tensors=_spense,
        engine_class=f"{_ENGINE}.spense:SpenseTensors",
        check=_check_spense,
    ),
    Format.ARMOR: FormatSpec(
        keys=("block_size",),
        tensors=_armor,
        engine_class=f"{_ENGINE}.armor:ArmorTensors",
        check=_check_armor,
    ),
    Format.DICTSPARSE: FormatSpec(
        keys=("atoms", "nnz_per_column"),
        tensors=_dictsparse,
        engine_class=f"{_ENGINE}.dictsparse:DictSparseTensors",
        check=_check_dictsparse,
        rank_dims={"D": 1},
    ),
}
