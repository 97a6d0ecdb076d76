"""A tiny random-init Llama (SmolLM2 tokenizer) and a mixed checkpoint using every format."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch
from safetensors.torch import save_file

from bench.speed_checkpoints import simple_compress
from model_loaders.checkpoint.specs import Format
from model_loaders.formats.base import FormatTensors
from model_loaders.formats.writer import load_dense_state, read_layers, write_checkpoint
from tests.prereq import default_model_dir
from tests.tiny_llama import save_tiny_llama

SMOLLM2 = default_model_dir()  # the pulled default model (tokenizer files)
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja")
VOCAB = 49152

# (layer, projection) -> (format, options); unlisted projections stay dense.
MIXED_PLAN: dict[tuple[int, str], tuple[Format, dict[str, int]]] = {
    (0, "self_attn.q_proj"): (Format.LOWRANK, {"rank": 8}),
    (0, "self_attn.k_proj"): (Format.SPARSE24, {}),
    (0, "self_attn.v_proj"): (Format.SPENSE, {"dense_rows": 8}),
    (0, "self_attn.o_proj"): (Format.ARMOR, {"block_size": 16}),
    (0, "mlp.gate_proj"): (Format.DICTSPARSE, {"atoms": 16, "nnz_per_column": 4}),
    (0, "mlp.down_proj"): (Format.LOWRANK, {"rank": 16}),
    (1, "self_attn.q_proj"): (Format.ARMOR, {"block_size": 16}),
    (1, "self_attn.k_proj"): (Format.DICTSPARSE, {"atoms": 16, "nnz_per_column": 2}),
    (1, "self_attn.v_proj"): (Format.LOWRANK, {"rank": 4}),
    (1, "self_attn.o_proj"): (Format.SPENSE, {"dense_rows": 16}),
    (1, "mlp.gate_proj"): (Format.SPARSE24, {}),
    (1, "mlp.up_proj"): (Format.SPARSE24, {}),
    (1, "mlp.down_proj"): (Format.ARMOR, {"block_size": 32}),
}


def build_tiny_llama(out: Path, *, dtype: torch.dtype = torch.float32, seed: int = 0) -> Path:
    """Write a 2-layer Llama (hidden 128, MLP 256, 2 heads of 64 / 1 KV head, tied embeddings).

    Needs the SmolLM2 tokenizer files in SMOLLM2 (the vocab matches).
    """
    save_tiny_llama(
        out,
        vocab_size=VOCAB,
        hidden_size=128,
        intermediate_size=256,
        num_layers=2,
        num_heads=2,
        num_kv_heads=1,
        max_positions=512,
        initializer_range=0.2,
        dtype=dtype,
        seed=seed,
    )
    for name in TOKENIZER_FILES:
        if (SMOLLM2 / name).is_file():
            shutil.copy2(SMOLLM2 / name, out / name)
    return out


def mixed_layers(dense_dir: Path) -> dict[str, FormatTensors]:
    """MIXED_PLAN applied to the dense folder's weights."""
    state = load_dense_state(dense_dir)
    layers = {}
    for (idx, proj), (fmt, opts) in MIXED_PLAN.items():
        name = f"model.layers.{idx}.{proj}"
        layers[name] = simple_compress(fmt, state[f"{name}.weight"], seed=idx, **opts)
    return layers


def build_mixed(dense_dir: Path, out: Path, *, sparse24_mode: str = "compressed") -> Path:
    """The mixed checkpoint: every format, in merged and unmerged vLLM layers."""
    return write_checkpoint(dense_dir, out, mixed_layers(dense_dir), sparse24_mode=sparse24_mode)


def write_dense_equivalent(checkpoint_dir: Path, out_dir: Path) -> Path:
    """A plain dense HF folder whose weights are the checkpoint's effective weights Ŵ.

    Without quantization_config: vLLM serves it with its own dense path (the reference the
    compressed checkpoint is compared against). `out_dir` must not exist.
    """
    layers = read_layers(checkpoint_dir)
    state = load_dense_state(checkpoint_dir)
    for name, layer in layers.items():
        for suffix in layer.tensors():
            del state[f"{name}.{suffix}"]
        state[f"{name}.weight"] = layer.to_dense().contiguous()
    skip = shutil.ignore_patterns("*.safetensors", "model.safetensors.index.json")
    shutil.copytree(checkpoint_dir, out_dir, ignore=skip)
    config = json.loads((checkpoint_dir / "config.json").read_text())
    config.pop("quantization_config", None)
    (out_dir / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    save_file(state, str(out_dir / "model.safetensors"), metadata={"format": "pt"})
    return out_dir
