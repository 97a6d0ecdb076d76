"""Every corrupted-checkpoint case raises its typed error naming tensor, expected and found."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from model_loaders.checkpoint.checks import check_folder
from model_loaders.checkpoint.errors import (
    CheckpointError,
    InvalidIndexError,
    ManifestError,
    MaskNot24Error,
    MissingTensorError,
    RankMismatchError,
    TensorDtypeError,
    TensorShapeError,
    TruncatedFileError,
    UnexpectedTensorError,
)
from model_loaders.checkpoint.specs import Format
from tests.unit.model_loaders.conftest import layer_name

LOW = layer_name(Format.LOWRANK)
S24 = layer_name(Format.SPARSE24)
DICT = layer_name(Format.DICTSPARSE)


def _edit(folder: Path, **changes: torch.Tensor | None) -> None:
    path = folder / "model.safetensors"
    state = load_file(str(path))
    for name, tensor in changes.items():
        key = name.replace("__", ".")
        if tensor is None:
            del state[key]
        else:
            state[key] = tensor
    save_file(state, str(path))


def _t(name: str) -> str:
    return name.replace(".", "__")


def test_clean_checkpoint_passes_deep(mixed_dir: Path, dense_dir: Path) -> None:
    assert check_folder(mixed_dir, deep=True) is not None
    assert check_folder(dense_dir) is None


def test_missing_tensor(mixed_dir: Path) -> None:
    _edit(mixed_dir, **{_t(f"{LOW}.V"): None})
    with pytest.raises(MissingTensorError) as err:
        check_folder(mixed_dir)
    assert err.value.tensor == f"{LOW}.V" and err.value.expected == "[6, 32]"


def test_unexpected_tensor(mixed_dir: Path) -> None:
    _edit(mixed_dir, **{_t(f"{S24}.weight"): torch.zeros(64, 32)})
    with pytest.raises(UnexpectedTensorError) as err:
        check_folder(mixed_dir)
    assert err.value.tensor == f"{S24}.weight"


def test_wrong_shape(mixed_dir: Path) -> None:
    _edit(mixed_dir, **{_t(f"{S24}.values"): torch.zeros(64, 8, dtype=torch.bfloat16)})
    with pytest.raises(TensorShapeError) as err:
        check_folder(mixed_dir)
    assert (err.value.tensor, err.value.expected, err.value.found) == (
        f"{S24}.values",
        "[64, 16]",
        "[64, 8]",
    )


def test_wrong_dtype(mixed_dir: Path) -> None:
    _edit(mixed_dir, **{_t(f"{S24}.meta"): torch.zeros(64, 4, dtype=torch.int32)})
    with pytest.raises(TensorDtypeError) as err:
        check_folder(mixed_dir)
    assert (err.value.expected, err.value.found) == ("U8", "I32")


def test_rank_mismatch(mixed_dir: Path) -> None:
    _edit(mixed_dir, **{_t(f"{LOW}.U"): torch.zeros(64, 5, dtype=torch.bfloat16)})
    with pytest.raises(RankMismatchError) as err:
        check_folder(mixed_dir)
    assert err.value.tensor == f"{LOW}.U" and err.value.found == "[64, 5]"


def test_mask_not_24_only_when_deep(mixed_dir: Path) -> None:
    meta = load_file(str(mixed_dir / "model.safetensors"))[f"{S24}.meta"].clone()
    meta[0, 0] = 0xFF  # p0 = p1 = 3
    _edit(mixed_dir, **{_t(f"{S24}.meta"): meta})
    check_folder(mixed_dir)  # header-level checks cannot see values
    with pytest.raises(MaskNot24Error) as err:
        check_folder(mixed_dir, deep=True)
    assert err.value.tensor == f"{S24}.meta" and "0xff" in err.value.found


def test_dictsparse_index_out_of_range(mixed_dir: Path) -> None:
    index = load_file(str(mixed_dir / "model.safetensors"))[f"{DICT}.C_index"].clone()
    index[0, 0] = 99
    _edit(mixed_dir, **{_t(f"{DICT}.C_index"): index})
    with pytest.raises(InvalidIndexError, match="C_index"):
        check_folder(mixed_dir, deep=True)


def test_truncated_file(mixed_dir: Path) -> None:
    path = mixed_dir / "model.safetensors"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 100])
    with pytest.raises(TruncatedFileError) as err:
        check_folder(mixed_dir)
    assert err.value.tensor.endswith("model.safetensors")


def test_bad_manifest(mixed_dir: Path) -> None:
    config = json.loads((mixed_dir / "config.json").read_text())
    config["quantization_config"]["layers"][LOW]["format"] = "lowrank3"
    (mixed_dir / "config.json").write_text(json.dumps(config))
    with pytest.raises(ManifestError, match="lowrank3"):
        check_folder(mixed_dir)


def test_errors_are_value_errors() -> None:
    err = MissingTensorError("x.U", expected="[2, 2]", found="nothing")
    assert isinstance(err, CheckpointError) and isinstance(err, ValueError)
    assert str(err) == "missing tensor: x.U: expected [2, 2], found nothing"
