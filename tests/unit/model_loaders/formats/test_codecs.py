"""Per-format tensor bundles, the 2:4 codec, the writer and the dense equivalent."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from kernels import reference
from model_loaders.checkpoint.errors import InvalidIndexError, MaskNot24Error, TensorShapeError
from model_loaders.checkpoint.manifest import load_manifest
from model_loaders.formats.lowrank import LowRankTensors
from model_loaders.formats.sparse24 import Sparse24Tensors, pack24, prune_magnitude24
from model_loaders.formats.spense import SpenseTensors
from model_loaders.formats.writer import read_layers, write_checkpoint
from tests.unit.model_loaders.conftest import COMPRESSED, compress_all, layer_name
from tests.unit.model_loaders.tiny_model import write_dense_equivalent


def test_pack24_round_trip_and_bytes() -> None:
    w = prune_magnitude24(torch.randn(16, 64, dtype=torch.bfloat16))
    values, meta = pack24(w)
    assert values.shape == (16, 32) and meta.shape == (16, 8) and meta.dtype == torch.uint8
    assert torch.equal(reference.unpack24(values, meta), w)
    stored = values.numel() * 2 + meta.numel()
    assert stored / (w.numel() * 2) == pytest.approx(0.5625)


def test_pack24_keeps_sparser_groups() -> None:
    w = torch.zeros(2, 8)
    w[0, 3] = 1.0  # one non-zero in group 0, none in group 1
    w[1, 4], w[1, 6] = 2.0, 3.0
    values, meta = pack24(w)
    assert torch.equal(reference.unpack24(values, meta), w)


def test_pack24_rejects_three_of_four() -> None:
    w = torch.zeros(1, 8)
    w[0, :3] = 1.0
    with pytest.raises(MaskNot24Error) as err:
        pack24(w, name="x.weight")
    assert err.value.tensor == "x.weight" and err.value.found == "3"


def test_invalid_meta_code_is_typed() -> None:
    values, meta = pack24(prune_magnitude24(torch.randn(4, 16)))
    meta[2, 1] = 0x55  # p0 = p1 = 1
    with pytest.raises(MaskNot24Error, match=r"layer\.meta"):
        Sparse24Tensors(values, meta).validate("layer")


def test_lowrank_svd_is_exact_at_full_rank() -> None:
    w = torch.randn(12, 8, dtype=torch.float64)
    assert torch.allclose(LowRankTensors.from_dense(w, rank=8).to_dense(), w, atol=1e-5)


def test_spense_rows_checked() -> None:
    w = prune_magnitude24(torch.randn(8, 16))
    layer = SpenseTensors.from_dense(w, torch.tensor([1, 4]))
    assert torch.equal(layer.to_dense(), w)
    bad = SpenseTensors(
        torch.tensor([4, 1], dtype=torch.int32), layer.dense_weight, layer.values, layer.meta
    )
    with pytest.raises(InvalidIndexError, match="dense_rows"):
        bad.validate("l")


def test_writer_round_trip(dense_dir: Path, mixed_dir: Path) -> None:
    written = compress_all(dense_dir)
    manifest = load_manifest(mixed_dir)
    assert manifest is not None and len(manifest.layers) == len(COMPRESSED)
    state = load_file(str(mixed_dir / "model.safetensors"))
    for fmt in COMPRESSED:
        assert f"{layer_name(fmt)}.weight" not in state
    assert "model.embed_tokens.weight" in state
    assert (mixed_dir / "tokenizer.json").is_file()
    for name, layer in read_layers(mixed_dir).items():
        assert torch.equal(layer.to_dense(), written[name].to_dense())


def test_dense_equivalent(mixed_dir: Path, tmp_path: Path) -> None:
    equiv = write_dense_equivalent(mixed_dir, tmp_path / "equiv")
    assert load_manifest(equiv) is None
    state = load_file(str(equiv / "model.safetensors"))
    for name, layer in read_layers(mixed_dir).items():
        assert torch.equal(state[f"{name}.weight"], layer.to_dense())


def test_writer_rejects_wrong_shape(dense_dir: Path, tmp_path: Path) -> None:
    name = layer_name(COMPRESSED[0])
    with pytest.raises(TensorShapeError, match=name):
        write_checkpoint(
            dense_dir, tmp_path / "o", {name: LowRankTensors.from_dense(torch.randn(8, 8), rank=2)}
        )
