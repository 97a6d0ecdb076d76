"""Plain dense HF folders written for drafts: a target with fewer layers, or a structserve
checkpoint with its compressed layers materialized as their effective dense weights.

Both reuse the source's tokenizer, chat template and generation config (`copy_side_files`).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

_NOT_COPIED = ("config.json", "model.safetensors.index.json", "structserve-model.json")


def copy_side_files(src: Path, dst: Path) -> None:
    """Tokenizer, chat template and generation config: everything but weights and config."""
    dst.mkdir(parents=True, exist_ok=True)
    for f in src.iterdir():
        skip = f.suffix == ".safetensors" or f.name in _NOT_COPIED
        if f.is_file() and not skip and not f.name.startswith("structserve-"):
            shutil.copy2(f, dst / f.name)


def _write_folder(src: Path, out: Path, config: dict[str, Any], state: dict[str, Any]) -> Path:
    """Replace `out` by a dense HF folder: `src`'s side files, `config`, one safetensors file."""
    from safetensors.torch import save_file

    if out.exists():
        shutil.rmtree(out)
    copy_side_files(src, out)
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    save_file(state, str(out / "model.safetensors"), metadata={"format": "pt"})
    return out


def write_layerdrop(target: Path, out: Path, kept: list[int]) -> Path:
    """A dense HF folder with only the `kept` decoder layers (renumbered 0..N-1).

    Args:
        target: dense HF folder.
        out: folder to create (replaced).
        kept: ascending layer indices of the target.

    Returns:
        out.
    """
    from model_loaders.formats.writer import load_dense_state

    state = load_dense_state(target)
    config = json.loads((target / "config.json").read_text())
    new_index = {old: new for new, old in enumerate(kept)}
    draft: dict[str, Any] = {}
    for key, tensor in state.items():
        if key.startswith("model.layers."):
            old = int(key.split(".")[2])
            if old not in new_index:
                continue
            rest = key.split(".", 3)[3]
            key = f"model.layers.{new_index[old]}.{rest}"
        draft[key] = tensor.contiguous()
    config["num_hidden_layers"] = len(kept)
    if isinstance(config.get("layer_types"), list):
        config["layer_types"] = [config["layer_types"][i] for i in kept]
    return _write_folder(target, out, config, draft)


def decompressed_state(folder: Path, *, match_embeddings: bool = False) -> dict[str, Any]:
    """Every tensor (name -> CPU tensor) of a dense or structserve `folder`, each compressed
    linear replaced by its effective weight `<layer>.weight` (model_loaders' own bundles).
    `match_embeddings`: cast each Ŵ to the embeddings' dtype (contiguous), as a dense
    checkpoint stores it; else keep the dtype `to_dense` returns."""
    from model_loaders.checkpoint.manifest import load_manifest
    from model_loaders.formats import bundle
    from model_loaders.formats.writer import load_dense_state

    state = load_dense_state(folder)
    manifest = load_manifest(folder)
    dtype = state["model.embed_tokens.weight"].dtype if match_embeddings else None
    for entry in (manifest.layers if manifest else {}).values():
        parts = {sfx: state.pop(f"{entry.name}.{sfx}") for sfx in entry.tensors()}
        weight = bundle(entry, parts).to_dense()
        state[f"{entry.name}.weight"] = weight.to(dtype).contiguous() if dtype else weight
    return state


def materialize(structured: Path, out: Path) -> Path:
    """A plain dense HF folder computing exactly what a structserve checkpoint computes.

    vLLM 0.32 builds a `draft_model` without any quantization config (its DraftModelProposer
    replaces `quant_config` with None), so a structserve-format draft cannot load as a draft.
    Each compressed layer is written as its effective weight (2:4 zeros, low-rank products).

    Args:
        structured: a structserve checkpoint folder.
        out: the dense folder to create (replaced).

    Returns:
        out.
    """
    state = decompressed_state(structured, match_embeddings=True)
    config = json.loads((structured / "config.json").read_text())
    config.pop("quantization_config", None)
    return _write_folder(structured, out, config, state)
