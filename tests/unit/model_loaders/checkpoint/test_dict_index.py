"""The dictsparse index is stored I16 (atoms <= 32767) or I32; both load to the same weight."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from model_loaders.checkpoint.checks import check_folder, check_layer
from model_loaders.checkpoint.describe import describe_folder, layer_rows
from model_loaders.checkpoint.errors import InvalidIndexError, TensorDtypeError
from model_loaders.checkpoint.folder import tensor_index
from model_loaders.checkpoint.manifest import LayerEntry
from model_loaders.checkpoint.specs import Format, index_dtype
from model_loaders.formats.writer import read_layers, rewrite_checkpoint
from tests.unit.model_loaders.conftest import IN, OPTIONS, OUT, layer_name

DICT = layer_name(Format.DICTSPARSE)
ATOMS, NNZ = OPTIONS[Format.DICTSPARSE]["atoms"], OPTIONS[Format.DICTSPARSE]["nnz_per_column"]


def _with_index(folder: Path, index: torch.Tensor) -> Path:
    path = folder / "model.safetensors"
    state = load_file(str(path))
    state[f"{DICT}.C_index"] = index
    save_file(state, str(path))
    return folder


def _index(folder: Path) -> torch.Tensor:
    return load_file(str(folder / "model.safetensors"))[f"{DICT}.C_index"]


def test_index_dtype_boundary() -> None:
    assert (index_dtype(1), index_dtype(32767), index_dtype(32768)) == ("I16", "I16", "I32")


def test_writer_stores_i16(mixed_dir: Path) -> None:
    assert tensor_index(mixed_dir)[f"{DICT}.C_index"]["dtype"] == "I16"
    assert read_layers(mixed_dir)[DICT].tensors()["C_index"].dtype == torch.int16


def test_i32_checkpoint_loads_to_the_same_weight(mixed_dir: Path, tmp_path: Path) -> None:
    i16 = read_layers(mixed_dir)[DICT]
    legacy = _with_index(mixed_dir, _index(mixed_dir).to(torch.int32))  # a spec-v1 I32 file
    assert tensor_index(legacy)[f"{DICT}.C_index"]["dtype"] == "I32"
    assert check_folder(legacy, deep=True) is not None
    i32 = read_layers(legacy)[DICT]
    assert torch.equal(i32.to_dense(), i16.to_dense())
    rewritten = rewrite_checkpoint(legacy, tmp_path / "rewritten")  # narrows, same values
    assert tensor_index(rewritten)[f"{DICT}.C_index"]["dtype"] == "I16"
    assert torch.equal(read_layers(rewritten)[DICT].to_dense(), i16.to_dense())


@pytest.mark.parametrize("dtype", [torch.int8, torch.int64, torch.uint8, torch.float32])
def test_other_index_dtypes_refused(mixed_dir: Path, dtype: torch.dtype) -> None:
    _with_index(mixed_dir, _index(mixed_dir).to(dtype))
    with pytest.raises(TensorDtypeError) as err:
        check_folder(mixed_dir)
    assert err.value.tensor == f"{DICT}.C_index" and "I16" in err.value.expected


@pytest.mark.parametrize(("value", "found"), [(ATOMS, "12]"), (-1, "[-1,"), ("dup", "repeat")])
def test_i16_index_values_checked(mixed_dir: Path, value: int | str, found: str) -> None:
    index = _index(mixed_dir).clone()  # [s, I] int16
    index[0, 3] = index[1, 3] if value == "dup" else value
    _with_index(mixed_dir, index)
    check_folder(mixed_dir)  # headers are fine; values need the deep check
    with pytest.raises(InvalidIndexError) as err:
        check_folder(mixed_dir, deep=True)
    assert err.value.tensor == f"{DICT}.C_index" and found in err.value.found


def test_i16_refused_when_atoms_exceed_it() -> None:
    entry = LayerEntry(DICT, Format.DICTSPARSE, 4, 8, {"atoms": 40000, "nnz_per_column": 2})
    index = {
        f"{DICT}.D": {"dtype": "BF16", "shape": [4, 40000]},
        f"{DICT}.C_values": {"dtype": "BF16", "shape": [2, 8]},
        f"{DICT}.C_index": {"dtype": "I16", "shape": [2, 8]},
    }
    with pytest.raises(TensorDtypeError) as err:
        check_layer(entry, index)
    assert (err.value.expected, err.value.found) == ("I32", "I16")
    index[f"{DICT}.C_index"]["dtype"] = "I32"
    check_layer(entry, index)


def test_inspect_and_describe_count_the_narrow_index(mixed_dir: Path) -> None:
    i16_bytes = 2 * (OUT * ATOMS + NNZ * IN) + 2 * NNZ * IN  # D, C_values bf16; C_index I16
    row = {r.layer: r for r in layer_rows(mixed_dir)}[DICT]
    assert row.bytes == i16_bytes and row.ratio == pytest.approx(i16_bytes / (2 * OUT * IN), 1e-3)
    narrow = describe_folder(mixed_dir)
    _with_index(mixed_dir, _index(mixed_dir).to(torch.int32))
    assert {r.layer: r for r in layer_rows(mixed_dir)}[DICT].bytes == i16_bytes + 2 * NNZ * IN
    wide = describe_folder(mixed_dir)
    assert wide["weight_bytes"] - narrow["weight_bytes"] == 2 * NNZ * IN
    assert narrow["linear_compression_ratio"] < wide["linear_compression_ratio"]
