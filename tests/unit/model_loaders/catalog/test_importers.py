"""Importers: compressed-tensors sparse-24-bitmask, ARMOR reference layout, ROCKET _u/_v.

The compressed-tensors fixture is written with the real package's bitmask packer and config
class; ARMOR and ROCKET fixtures follow the layouts their sources define.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from model_loaders.catalog.importers.__main__ import main as import_main
from model_loaders.catalog.importers.compressed_tensors import import_sparse24_bitmask
from model_loaders.catalog.importers.rocket import import_rocket
from model_loaders.checkpoint.describe import describe_folder
from model_loaders.checkpoint.errors import ManifestError, MaskNot24Error, RankMismatchError
from model_loaders.formats.sparse24 import prune_magnitude24
from model_loaders.formats.writer import read_layers

LAYERS = ["model.layers.0.mlp.lowrank_proj", "model.layers.0.mlp.sparse24_proj"]


def _folder(
    dense_dir: Path, out: Path, state: dict[str, torch.Tensor], quant: object = None
) -> Path:
    shutil.copytree(dense_dir, out)
    save_file(state, str(out / "model.safetensors"))
    if quant is not None:
        config = json.loads((out / "config.json").read_text())
        config["quantization_config"] = quant
        (out / "config.json").write_text(json.dumps(config))
    return out


def _compressed_tensors_folder(dense_dir: Path, out: Path) -> tuple[Path, dict[str, torch.Tensor]]:
    from compressed_tensors.config import Sparse24BitMaskConfig
    from compressed_tensors.utils import pack_bitmasks

    state = load_file(str(dense_dir / "model.safetensors"))
    expected = {}
    for name in LAYERS:
        w = prune_magnitude24(state.pop(f"{name}.weight"))
        mask = w != 0
        state[f"{name}.compressed"] = w[mask].reshape(w.shape[0], -1)
        state[f"{name}.bitmask"] = pack_bitmasks(mask)
        state[f"{name}.shape"] = torch.tensor(list(w.shape)).reshape(-1, 1)
        expected[name] = w
    sparsity = Sparse24BitMaskConfig(targets=["Linear"], ignore=["lm_head"]).model_dump()
    quant = {"quant_method": "compressed-tensors", "format": "dense", "sparsity_config": sparsity}
    return _folder(dense_dir, out, state, quant), expected


def test_compressed_tensors_sparse24_bitmask(dense_dir: Path, tmp_path: Path) -> None:
    src, expected = _compressed_tensors_folder(dense_dir, tmp_path / "ct")
    out = import_sparse24_bitmask(src, tmp_path / "out")
    assert describe_folder(out)["formats"] == {"sparse24": 2}
    layers = read_layers(out)
    for name, w in expected.items():
        assert torch.equal(layers[name].to_dense(), w)
    config = json.loads((out / "config.json").read_text())
    assert config["quantization_config"]["quant_method"] == "structserve"


def test_compressed_tensors_bad_mask(dense_dir: Path, tmp_path: Path) -> None:
    src, _ = _compressed_tensors_folder(dense_dir, tmp_path / "ct")
    state = load_file(str(src / "model.safetensors"))
    bitmask = state[f"{LAYERS[0]}.bitmask"].clone()
    bitmask[0, 0] = 0x0F  # four of four
    state[f"{LAYERS[0]}.bitmask"] = bitmask
    save_file(state, str(src / "model.safetensors"))
    with pytest.raises(MaskNot24Error, match=r"lowrank_proj\.bitmask"):
        import_sparse24_bitmask(src, tmp_path / "out")


def test_compressed_tensors_needs_sparsity_config(dense_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="sparse-24-bitmask"):
        import_sparse24_bitmask(dense_dir, tmp_path / "out")


def test_armor_reference_layout(dense_dir: Path, tmp_path: Path) -> None:
    state = load_file(str(dense_dir / "model.safetensors"))
    name = LAYERS[0]
    w = state.pop(f"{name}.weight").float()  # [64, 32]
    a, b = torch.randn(4, 16, 16), torch.randn(2, 16, 16)
    core = prune_magnitude24(w)
    mask = core != 0
    state |= {f"{name}.A.diag_blocks": a, f"{name}.B.diag_blocks": b}
    state |= {f"{name}.naive_compression_module.X": core[mask]}
    state |= {f"{name}.naive_compression_module.sparse_mask": mask}
    src = _folder(
        dense_dir,
        tmp_path / "armor",
        {k: v.bfloat16() if v.is_floating_point() else v for k, v in state.items()},
    )
    assert import_main(["armor", str(src), str(tmp_path / "out")]) == 0
    layer = read_layers(tmp_path / "out")[name]
    want = (
        torch.block_diag(*a.bfloat16().float())
        @ core.bfloat16().float()
        @ torch.block_diag(*b.bfloat16().float())
    )
    torch.testing.assert_close(layer.to_dense().float(), want, atol=0.1, rtol=0.02)


def test_rocket_layout(dense_dir: Path, tmp_path: Path) -> None:
    state = load_file(str(dense_dir / "model.safetensors"))
    name = LAYERS[1]
    state.pop(f"{name}.weight")
    u_lin, v_lin = (
        torch.randn(5, 32).bfloat16(),
        torch.randn(64, 5).bfloat16(),
    )  # P_u: I->r, P_v: r->O
    state |= {f"{name}_u.weight": u_lin, f"{name}_v.weight": v_lin}
    src = _folder(dense_dir, tmp_path / "rocket", state)
    config = json.loads((src / "config.json").read_text())
    config["auto_map"] = {"AutoModelForCausalLM": "modeling_llama_svd.LlamaForCausalLM"}
    (src / "config.json").write_text(json.dumps(config))
    out = import_rocket(src, tmp_path / "out")
    layer = read_layers(out)[name]
    assert torch.equal(layer.to_dense(), (v_lin.float() @ u_lin.float()).bfloat16())
    assert "auto_map" not in json.loads((out / "config.json").read_text())


def test_rocket_rank_mismatch(dense_dir: Path, tmp_path: Path) -> None:
    state = load_file(str(dense_dir / "model.safetensors"))
    name = LAYERS[1]
    state.pop(f"{name}.weight")
    state |= {f"{name}_u.weight": torch.randn(5, 32), f"{name}_v.weight": torch.randn(64, 4)}
    src = _folder(dense_dir, tmp_path / "rocket", state)
    with pytest.raises(RankMismatchError, match=r"sparse24_proj_v\.weight"):
        import_rocket(src, tmp_path / "out")
