"""Compressed checkpoints served by the real vLLM engine (CPU, eager, fp32).

Engine starts: 3 in all. (1) the dense equivalent, (2) ONE mixed checkpoint holding every format
(lowrank, sparse24, spense, armor, dictsparse; in merged qkv/gate_up and unmerged layers, with
tied embeddings) in `compressed` 2:4 mode, (3) a checkpoint whose 2:4 mask is corrupt, which
must not start. A checkpoint with a wrongly shaped tensor is refused before any engine exists.
Engines (server.launcher) run two at a time, each pinned to its own core, to halve the wall
time.

Equality: served in float32, greedy tokens must be identical and every returned logprob (the
chosen token's and the top-5) within LOGPROB_TOL of the dense equivalent; the compressed path
evaluates A(S(Bx)), (xVᵀ)Uᵀ, ... while the reference multiplies by the product, so only
float32 rounding separates them.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import openai
import pytest
import torch
from safetensors.torch import load_file, save_file

from model_loaders.checkpoint.describe import describe_folder
from model_loaders.checkpoint.folder import tensor_index
from server.launcher import Engine, EngineExitedError, running_engine
from tests.integration.gateways import engine_spec
from tests.prereq import require, require_default_model
from tests.unit.model_loaders.tiny_model import (
    build_mixed,
    build_tiny_llama,
    write_dense_equivalent,
)

pytestmark = pytest.mark.integration

LOGPROB_TOL = 2e-3
PROMPTS = ["Hello, my name is", "The capital of France", "def fibonacci(n):"]
READY_S = 240.0


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """dense tiny Llama, its mixed checkpoint, and the mixed checkpoint's dense equivalent."""
    model = require_default_model()  # the tiny Llama borrows its tokenizer
    require((model / "tokenizer.json").is_file(), f"the default model's tokenizer in {model}")
    root = tmp_path_factory.mktemp("formats")
    dense = build_tiny_llama(root / "dense")
    mixed = build_mixed(dense, root / "mixed", sparse24_mode="compressed")
    equiv = write_dense_equivalent(mixed, root / "equiv")
    return {"dense": dense, "mixed": mixed, "equiv": equiv, "root": root}


@contextmanager
def engine(model: Path, log: Path, *, core: int) -> Iterator[Engine]:
    """An fp32 engine on `model` (server.launcher), pinned to `core`; does not wait for it."""
    extra = ["--dtype", "float32", "--max-num-seqs", "4"]
    spec = engine_spec(
        model, max_model_len=256, extra_args=extra, VLLM_CPU_OMP_THREADS_BIND=str(core)
    )
    with running_engine(spec, log, ready_timeout_s=None, stop_timeout_s=30) as started:
        yield started


def greedy(url: str) -> list[dict[str, object]]:
    """Greedy completions of PROMPTS with top-5 logprobs."""
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0, timeout=120)
    out = []
    for prompt in PROMPTS:
        res = client.completions.create(
            model="m", prompt=prompt, max_tokens=12, temperature=0.0, logprobs=5
        )
        lp = res.choices[0].logprobs
        assert lp is not None and lp.tokens and lp.token_logprobs and lp.top_logprobs
        out.append({"tokens": lp.tokens, "logprobs": lp.token_logprobs, "top": lp.top_logprobs})
    return out


def test_mixed_checkpoint_matches_dense_equivalent(folders: dict[str, Path]) -> None:
    desc = describe_folder(folders["mixed"])
    assert desc["format"] == "mixed"
    assert set(desc["formats"]) == {"lowrank", "sparse24", "spense", "armor", "dictsparse"}
    index = tensor_index(folders["mixed"])  # dictsparse indices stored narrow (docs/formats.md)
    assert {r["dtype"] for n, r in index.items() if n.endswith(".C_index")} == {"I16"}
    root = folders["root"]
    with (
        engine(folders["equiv"], root / "equiv.log", core=0) as ref,
        engine(folders["mixed"], root / "mixed.log", core=1) as mixed,
    ):
        ref.wait_healthy(READY_S)  # raises EngineExitedError with the log tail
        mixed.wait_healthy(READY_S)
        reference, served = greedy(ref.url), greedy(mixed.url)
    for ref, got in zip(reference, served, strict=True):
        assert got["tokens"] == ref["tokens"]
        diffs = [abs(a - b) for a, b in zip(got["logprobs"], ref["logprobs"], strict=True)]  # type: ignore[call-overload]
        assert max(diffs) <= LOGPROB_TOL, diffs
        for top_got, top_ref in zip(got["top"], ref["top"], strict=True):  # type: ignore[call-overload]
            for token, value in top_ref.items():
                if token in top_got:
                    assert abs(top_got[token] - value) <= LOGPROB_TOL


def _corrupt_mask(mixed: Path, out: Path) -> Path:
    shutil.copytree(mixed, out)
    state = load_file(str(out / "model.safetensors"))
    meta = state["model.layers.0.self_attn.k_proj.meta"].clone()
    meta[3, 1] = 0x00  # p0 = p1 = 0: not a 2:4 code
    state["model.layers.0.self_attn.k_proj.meta"] = meta
    save_file(state, str(out / "model.safetensors"), metadata={"format": "pt"})
    return out


def _corrupt_shape(mixed: Path, out: Path) -> Path:
    shutil.copytree(mixed, out)
    state = load_file(str(out / "model.safetensors"))
    state["model.layers.1.mlp.down_proj.A"] = torch.zeros(4, 16, 16)  # manifest: [4, 32, 32]
    save_file(state, str(out / "model.safetensors"), metadata={"format": "pt"})
    return out


def test_engine_refuses_bad_weights(folders: dict[str, Path]) -> None:
    root = folders["root"]
    mask = _corrupt_mask(folders["mixed"], root / "bad_mask")
    shape = _corrupt_shape(folders["mixed"], root / "bad_shape")
    with (
        engine(mask, root / "bad_mask.log", core=0) as mask_engine,
        engine(shape, root / "bad_shape.log", core=1) as shape_engine,
    ):
        with pytest.raises(EngineExitedError):
            mask_engine.wait_healthy(READY_S)
        with pytest.raises(EngineExitedError):
            shape_engine.wait_healthy(READY_S)
    assert mask_engine.process.returncode != 0 and shape_engine.process.returncode != 0
    mask_log = (root / "bad_mask.log").read_text(errors="replace")
    assert "mask is not 2:4: model.layers.0.self_attn.k_proj.meta" in mask_log
    shape_log = (root / "bad_shape.log").read_text(errors="replace")
    assert "wrong shape: model.layers.1.mlp.down_proj.A: expected [4, 32, 32]" in shape_log
