"""Manifest parsing and describe_folder (torch-free)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from model_loaders.checkpoint.describe import describe_folder
from model_loaders.checkpoint.errors import ManifestError
from model_loaders.checkpoint.manifest import parse_manifest
from model_loaders.checkpoint.specs import Format


def _quant(layers: dict[str, object], **extra: object) -> dict[str, object]:
    return {"quant_method": "structserve", "version": 1, "layers": layers, **extra}


def test_parse_every_format() -> None:
    layers = {
        "a": {"format": "lowrank", "out_features": 8, "in_features": 8, "rank": 2},
        "b": {"format": "sparse24", "out_features": 8, "in_features": 8},
        "c": {"format": "spense", "out_features": 8, "in_features": 8, "dense_rows": 2},
        "d": {"format": "armor", "out_features": 8, "in_features": 8, "block_size": 4},
        "e": {
            "format": "dictsparse",
            "out_features": 8,
            "in_features": 8,
            "atoms": 4,
            "nnz_per_column": 2,
        },
    }
    manifest = parse_manifest(_quant(layers))
    assert {e.format for e in manifest.layers.values()} == set(Format) - {Format.DENSE}
    assert manifest.layers["a"].tensors()["U"].shape == (8, 2)
    assert manifest.layers["b"].tensors()["meta"].shape == (8, 1)
    assert parse_manifest(manifest.to_json()) == manifest


@pytest.mark.parametrize(
    ("layers", "extra", "where"),
    [
        ({"a": {"format": "svd", "out_features": 8, "in_features": 8}}, {}, "a.format"),
        ({"a": {"format": "lowrank", "out_features": 8, "in_features": 8}}, {}, "a.rank"),
        ({"a": {"format": "sparse24", "out_features": 8, "in_features": 8, "x": 1}}, {}, "a"),
        ({"a": {"format": "sparse24", "out_features": 8, "in_features": 12}}, {}, "a.in_features"),
        (
            {"a": {"format": "armor", "out_features": 8, "in_features": 8, "block_size": 3}},
            {},
            "a.block_size",
        ),
        ({}, {"version": 2}, "quantization_config.version"),
        ({}, {"sparse24_mode": "fast"}, "quantization_config.sparse24_mode"),
    ],
)
def test_bad_manifest_names_the_key(
    layers: dict[str, object], extra: dict[str, object], where: str
) -> None:
    with pytest.raises(ManifestError) as err:
        parse_manifest(_quant(layers, **extra))
    assert err.value.tensor == where


def test_describe_dense_and_mixed(dense_dir: Path, mixed_dir: Path) -> None:
    dense = describe_folder(dense_dir)
    assert dense["format"] == "dense" and dense["compression_ratio"] == 1.0
    mixed = describe_folder(mixed_dir)
    assert mixed["format"] == "mixed"
    assert mixed["formats"] == {
        f: 1 for f in ("lowrank", "sparse24", "spense", "armor", "dictsparse")
    }
    assert 0 < mixed["linear_compression_ratio"] < 1
    assert mixed["compression_ratio"] < 1
    assert mixed["dense_bytes"] == dense["weight_bytes"]


def test_describe_single_format_and_missing_folder(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(
        json.dumps(
            {
                "quantization_config": _quant(
                    {"a": {"format": "sparse24", "out_features": 8, "in_features": 8}}
                )
            }
        )
    )
    assert describe_folder(tmp_path)["format"] == "sparse24"
    assert describe_folder(tmp_path / "nope")["format"] == "dense"


def test_manifest_import_is_torch_free() -> None:
    mods = "model_loaders.checkpoint.manifest, model_loaders.checkpoint.describe"
    code = f"import sys, {mods}, model_loaders.catalog; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
