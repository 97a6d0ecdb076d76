"""Pre-flight check of a model folder before an engine is pointed at it (no torch, headers only).

`structserve serve` runs `preflight` so a hostile or broken folder is refused with a typed error
naming the file, instead of reaching vLLM (which would unpickle `.bin` files, follow paths out of
the folder, or die deep in a weight loader on a wrong shape).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from model_loaders.checkpoint.checks import check_layer
from model_loaders.checkpoint.errors import (
    ManifestError,
    MissingTensorError,
    TensorShapeError,
    UnexpectedTensorError,
)
from model_loaders.checkpoint.folder import inside, refuse_pickle_only, tensor_index
from model_loaders.checkpoint.manifest import Manifest, load_manifest, read_config

_LAYER = re.compile(r"^model\.layers\.(\d+)\.(self_attn|mlp)\.(\w+_proj)(?:\.weight)?$")
_DIMS = ("hidden_size", "num_attention_heads", "intermediate_size", "vocab_size")


def _positive(config: dict[str, Any], key: str) -> int:
    value = config.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ManifestError(f"config.json: {key}", expected="a positive integer", found=value)
    return value


def llama_shapes(config: dict[str, Any]) -> dict[str, tuple[int, int]]:
    """`self_attn.q_proj`-style module -> (out, in) of a Llama-family decoder layer, and the
    embedding, from config.json; {} when the config does not describe such a model."""
    if not all(key in config for key in _DIMS):
        return {}
    h, heads = _positive(config, "hidden_size"), _positive(config, "num_attention_heads")
    kv = _positive(config, "num_key_value_heads") if "num_key_value_heads" in config else heads
    head_dim = _positive(config, "head_dim") if config.get("head_dim") else h // heads
    inter = _positive(config, "intermediate_size")
    q, k = heads * head_dim, kv * head_dim
    return {
        "embed_tokens": (_positive(config, "vocab_size"), h),
        "self_attn.q_proj": (q, h),
        "self_attn.k_proj": (k, h),
        "self_attn.v_proj": (k, h),
        "self_attn.o_proj": (h, q),
        "mlp.gate_proj": (inter, h),
        "mlp.up_proj": (inter, h),
        "mlp.down_proj": (h, inter),
    }


def _check_module(name: str, found: tuple[int, ...], shapes: dict[str, tuple[int, int]]) -> None:
    match = _LAYER.match(name)
    if match is None:
        return
    want = shapes.get(f"{match.group(2)}.{match.group(3)}")
    if want is not None and tuple(found) != want:
        raise TensorShapeError(name, expected=f"{list(want)} from config.json", found=list(found))


def check_config_shapes(
    config: dict[str, Any], index: dict[str, dict[str, Any]], manifest: Manifest | None
) -> None:
    """Raise TensorShapeError / UnexpectedTensorError when the tensors (or the manifest's
    layers) disagree with config.json's sizes; layers past `num_hidden_layers` are unexpected."""
    shapes = llama_shapes(config)
    if not shapes:
        return
    layers = _positive(config, "num_hidden_layers") if "num_hidden_layers" in config else None
    embed = index.get("model.embed_tokens.weight")
    if embed is not None and tuple(embed["shape"]) != shapes["embed_tokens"]:
        want = list(shapes["embed_tokens"])
        raise TensorShapeError(
            "model.embed_tokens.weight", expected=f"{want} from config.json", found=embed["shape"]
        )
    for name, rec in index.items():
        match = _LAYER.match(name)
        if match and layers is not None and int(match.group(1)) >= layers:
            expected = f"layers below num_hidden_layers={layers}"
            raise UnexpectedTensorError(name, expected=expected, found=name)
        if name.endswith(".weight"):
            _check_module(name, tuple(rec["shape"]), shapes)
    for entry in (manifest.layers if manifest else {}).values():
        _check_module(entry.name, (entry.out_features, entry.in_features), shapes)


def preflight(folder: Path | str) -> Manifest | None:
    """Refuse a model folder an engine must not load.

    Checks: every entry of the folder (config, tokenizer, weights) stays inside it; weights are
    safetensors (pickle-only folders are refused); each header is well formed and fits its file;
    the structserve manifest matches the tensors; config.json's sizes match the tensor shapes.

    Args:
        folder: the HF model folder.

    Returns:
        The manifest (None for a plain checkpoint). Raises a CheckpointError subclass naming the
        file or tensor at fault.
    """
    folder = Path(folder)
    for item in sorted(folder.iterdir()):
        inside(folder, item.name, what=str(item))
    config = read_config(folder)
    if not config:
        raise ManifestError(str(folder / "config.json"), expected="a JSON object", found="none")
    refuse_pickle_only(folder)
    index = tensor_index(folder)
    if not index:
        raise MissingTensorError(str(folder), expected="*.safetensors weights", found="none")
    manifest = load_manifest(folder)
    for entry in (manifest.layers if manifest else {}).values():
        check_layer(entry, index)
    check_config_shapes(config, index, manifest)
    return manifest
