"""Write a structserve checkpoint: a dense HF folder with some linear layers replaced.

This is the API the compressors use (docs/formats.md, "Writing checkpoints"):

    from model_loaders.formats.writer import write_checkpoint
    from model_loaders.formats.lowrank import LowRankTensors
    write_checkpoint(dense_dir, out_dir, {
        "model.layers.0.mlp.down_proj": LowRankTensors.from_dense(w, rank=128),
    })
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from model_loaders.checkpoint.errors import ManifestError, MissingTensorError, TensorShapeError
from model_loaders.checkpoint.folder import safetensors_files
from model_loaders.checkpoint.manifest import SPARSE24_MODES, SPEC_VERSION, Manifest, load_manifest
from model_loaders.formats.base import FormatTensors
from model_loaders.formats.dense import DenseTensors

_SKIP_FILES = {"model.safetensors.index.json"}


def load_dense_state(dense_dir: Path) -> dict[str, torch.Tensor]:
    """Every tensor of an HF folder's safetensors files (name -> tensor, on CPU)."""
    state: dict[str, torch.Tensor] = {}
    for path in safetensors_files(Path(dense_dir)):
        state.update(load_file(str(path)))
    return state


def _pop_weight(state: dict[str, torch.Tensor], name: str, layer: FormatTensors) -> torch.dtype:
    key = f"{name}.weight"
    if key not in state:
        raise MissingTensorError(key, expected="a dense linear weight to replace", found="nothing")
    dense = state.pop(key)
    want = (layer.out_features, layer.in_features)
    if tuple(dense.shape) != want:
        found = f"a layer of shape {list(want)}"
        raise TensorShapeError(key, expected=list(dense.shape), found=found)
    return dense.dtype


def write_checkpoint(
    dense_dir: Path | str,
    out_dir: Path | str,
    layers: Mapping[str, FormatTensors],
    *,
    sparse24_mode: str = "dense",
) -> Path:
    """Write a structserve checkpoint.

    Args:
        dense_dir: the dense HF folder (config.json, tokenizer, *.safetensors).
        out_dir: the folder to create (replaced when it exists; must differ from dense_dir).
        layers: HF module name (e.g. "model.layers.3.mlp.down_proj") -> the format's tensors
            (DenseTensors, LowRankTensors, Sparse24Tensors, SpenseTensors, ArmorTensors,
            DictSparseTensors). Floating tensors are cast to the dense weight's dtype; integer
            ones are written as each bundle's `tensors()` gives them (a dictsparse C_index
            as I16 when atoms <= 32767, else I32). Layers not listed are copied unchanged.
        sparse24_mode: default runtime mode of the 2:4 formats, "dense" or "compressed".

    Returns:
        out_dir. Raises CheckpointError subclasses for unknown layers, shape mismatches and
        invalid masks or indices.
    """
    dense_dir = Path(dense_dir)
    state = load_dense_state(dense_dir)
    dtypes = {_pop_weight(state, name, layer) for name, layer in layers.items()}
    dtype = dtypes.pop() if len(dtypes) == 1 else torch.bfloat16
    return write_state(dense_dir, out_dir, state, layers, dtype=dtype, sparse24_mode=sparse24_mode)


def write_state(
    src_dir: Path | str,
    out_dir: Path | str,
    state: dict[str, torch.Tensor],
    layers: Mapping[str, FormatTensors],
    *,
    dtype: torch.dtype,
    sparse24_mode: str = "dense",
) -> Path:
    """Lower-level writer (importers): `state` already lacks the replaced layers' tensors.

    Args:
        src_dir: folder whose config.json, tokenizer and other small files are copied.
        out_dir: the folder to create (replaced when it exists; must differ from src_dir).
        state: every tensor that stays as is (embeddings, norms, dense layers).
        layers: HF module name -> the format's tensors; floating ones are cast to `dtype`.
        dtype: the checkpoint's floating dtype.
        sparse24_mode: default runtime mode of the 2:4 formats.

    Returns:
        out_dir.
    """
    src_dir, out_dir = Path(src_dir), Path(out_dir)
    if out_dir.resolve() == src_dir.resolve():
        raise ManifestError(
            str(out_dir), expected="a folder other than the source", found=str(src_dir)
        )
    if sparse24_mode not in SPARSE24_MODES:
        raise ManifestError("sparse24_mode", expected=SPARSE24_MODES, found=sparse24_mode)
    if "embed_tokens" in "".join(layers) or "lm_head" in layers:
        raise ManifestError("layers", expected="decoder linear layers only", found=sorted(layers))
    state = dict(state)
    entries = {}
    for name, layer in layers.items():
        layer.validate(name)
        for suffix, tensor in layer.tensors().items():
            t = tensor.detach().to("cpu")
            state[f"{name}.{suffix}"] = (t.to(dtype) if t.is_floating_point() else t).contiguous()
        if not isinstance(layer, DenseTensors):
            entries[name] = layer.entry(name)
    config = json.loads((src_dir / "config.json").read_text())
    config.pop("compression_config", None)
    config["quantization_config"] = Manifest(SPEC_VERSION, entries, sparse24_mode).to_json()
    return _write_folder(src_dir, out_dir, config, state)


def _write_folder(
    src_dir: Path, out_dir: Path, config: dict[str, object], state: dict[str, torch.Tensor]
) -> Path:
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    for src in src_dir.iterdir():
        if src.is_file() and src.suffix != ".safetensors" and src.name not in _SKIP_FILES:
            shutil.copy2(src, out_dir / src.name)
    (out_dir / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    save_file(state, str(out_dir / "model.safetensors"), metadata={"format": "pt"})
    return out_dir


def read_layers(folder: Path | str) -> dict[str, FormatTensors]:
    """Every compressed layer of a structserve checkpoint as tensor bundles (validated).

    Args:
        folder: a structserve checkpoint folder.

    Returns:
        HF module name -> FormatTensors ({} for a plain dense folder).
    """
    from model_loaders.checkpoint.checks import check_folder
    from model_loaders.formats import bundle

    folder = Path(folder)
    manifest = check_folder(folder)
    if manifest is None:
        return {}
    state = load_dense_state(folder)
    layers = {}
    for name, entry in manifest.layers.items():
        layer = bundle(entry, {t: state[f"{name}.{t}"] for t in entry.tensors()})
        layer.validate(name)
        layers[name] = layer
    return layers


def rewrite_checkpoint(src_dir: Path | str, out_dir: Path | str) -> Path:
    """Write a structserve checkpoint again with this writer: same layers, same values.

    What changes is only how tensors are stored: e.g. a dictsparse `C_index` written as I32
    before I16 existed becomes I16 when atoms <= 32767 (docs/formats.md, changelog).

    Args:
        src_dir: a structserve checkpoint (validated like `read_layers`).
        out_dir: the folder to create (replaced when it exists; must differ from src_dir).

    Returns:
        out_dir, with src_dir's sparse24_mode and every other file and tensor.
    """
    src_dir = Path(src_dir)
    manifest = load_manifest(src_dir)
    layers = read_layers(src_dir)
    state = load_dense_state(src_dir)
    for name, layer in layers.items():
        for suffix in layer.tensors():
            del state[f"{name}.{suffix}"]
    stored = (t for layer in layers.values() for t in layer.tensors().values())
    dtype = next((t.dtype for t in stored if t.is_floating_point()), torch.bfloat16)
    mode = manifest.sparse24_mode if manifest else "dense"
    return write_state(src_dir, out_dir, state, layers, dtype=dtype, sparse24_mode=mode)
