"""Small synthetic checkpoints (no transformers): a dense folder and one layer per format."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from bench.speed_checkpoints import simple_compress
from model_loaders.checkpoint.specs import Format
from model_loaders.formats.base import FormatTensors
from model_loaders.formats.writer import write_checkpoint

OUT, IN = 64, 32
OPTIONS: dict[Format, dict[str, int]] = {
    Format.LOWRANK: {"rank": 6},
    Format.SPARSE24: {},
    Format.SPENSE: {"dense_rows": 5},
    Format.ARMOR: {"block_size": 16},
    Format.DICTSPARSE: {"atoms": 12, "nnz_per_column": 3},
}
COMPRESSED = list(OPTIONS)


def layer_name(fmt: Format) -> str:
    """The layer of the synthetic checkpoint holding `fmt`."""
    return f"model.layers.0.mlp.{fmt.value}_proj"


@pytest.fixture
def dense_dir(tmp_path: Path) -> Path:
    """A dense folder: one [64, 32] bf16 weight per format, an embedding and a norm."""
    g = torch.Generator().manual_seed(0)
    state = {
        f"{layer_name(f)}.weight": torch.randn(OUT, IN, generator=g).bfloat16() for f in COMPRESSED
    }
    state["model.embed_tokens.weight"] = torch.randn(100, IN, generator=g).bfloat16()
    state["model.norm.weight"] = torch.ones(IN, dtype=torch.bfloat16)
    folder = tmp_path / "dense"
    folder.mkdir()
    save_file(state, str(folder / "model.safetensors"))
    (folder / "config.json").write_text(json.dumps({"architectures": ["LlamaForCausalLM"]}))
    (folder / "tokenizer.json").write_text("{}")
    return folder


def compress_all(dense_dir: Path) -> dict[str, FormatTensors]:
    """Every format applied to its layer of `dense_dir`."""
    from safetensors.torch import load_file

    state = load_file(str(dense_dir / "model.safetensors"))
    return {
        layer_name(f): simple_compress(f, state[f"{layer_name(f)}.weight"], **OPTIONS[f])
        for f in COMPRESSED
    }


@pytest.fixture
def mixed_dir(dense_dir: Path) -> Path:
    """The structserve checkpoint with one layer per format."""
    return write_checkpoint(dense_dir, dense_dir.parent / "mixed", compress_all(dense_dir))
