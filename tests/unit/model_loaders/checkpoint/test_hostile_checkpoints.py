"""Hostile checkpoints: pickle, malformed/truncated/oversized safetensors, wrong config shapes,
paths out of the folder. Each is a typed CheckpointError naming the file (or tensor), from our
readers (preflight, check_folder, describe_folder, inspect) and from `structserve serve`, which
exits before starting an engine. No pickle is ever executed."""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import shutil
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from model_loaders.checkpoint.checks import check_folder
from model_loaders.checkpoint.describe import describe_folder
from model_loaders.checkpoint.describe import main as inspect_main
from model_loaders.checkpoint.errors import (
    CheckpointError,
    CorruptHeaderError,
    ManifestError,
    TensorShapeError,
    TruncatedFileError,
    UnexpectedTensorError,
    UnsafeCheckpointError,
)
from model_loaders.checkpoint.folder import read_header
from model_loaders.checkpoint.preflight import preflight
from tests.tiny_llama import save_tiny_llama

LAYERS = 2


@pytest.fixture(scope="module")
def tiny_src(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny Llama (hidden 32, 4 heads / 2 KV heads, intermediate 64, vocab 128), built once."""
    out = tmp_path_factory.mktemp("tiny") / "llama"
    return save_tiny_llama(
        out, vocab_size=128, hidden_size=32, intermediate_size=64,
        num_layers=LAYERS, num_heads=4, num_kv_heads=2,
    )  # fmt: skip


@pytest.fixture
def tiny(tiny_src: Path, tmp_path: Path) -> Path:
    """A fresh copy of the tiny Llama for one test to damage."""
    return Path(shutil.copytree(tiny_src, tmp_path / "model"))


class _Exploit:
    """Unpickling this runs `touch <marker>`: proof that a loader executed the pickle."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {self.marker}",))


def write_safetensors(
    path: Path, header: Any, data: bytes = b"", *, length: int | None = None
) -> None:
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw) if length is None else length) + raw + data)


def config(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "config.json").read_text())


def set_config(folder: Path, **changes: Any) -> None:
    (folder / "config.json").write_text(json.dumps({**config(folder), **changes}))


def refused(folder: Path, error: type[CheckpointError]) -> CheckpointError:
    """Assert preflight refuses with `error`, and the other readers fail typed or degrade."""
    with pytest.raises(error) as info:
        preflight(folder)
    for reader in (check_folder, describe_folder):  # typed error or a summary, nothing else
        with contextlib.suppress(CheckpointError):
            reader(folder)
    return info.value


def test_clean_tiny_model_passes(tiny: Path) -> None:
    assert preflight(tiny) is None


def test_pickle_only_folder_refused_never_executed(tiny: Path, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    (tiny / "model.safetensors").unlink()
    (tiny / "pytorch_model.bin").write_bytes(pickle.dumps(_Exploit(marker)))
    err = refused(tiny, UnsafeCheckpointError)
    assert err.tensor.endswith("pytorch_model.bin") and "pickle" in str(err)
    assert inspect_main([str(tiny)]) in (0, 1)
    assert not marker.exists()


def rec(dtype: str, shape: list[int], offsets: list[int]) -> dict[str, Any]:
    return {"dtype": dtype, "shape": shape, "data_offsets": offsets}


Corrupt, Short = CorruptHeaderError, TruncatedFileError
# case -> (header, data, declared header length or None, error)
HEADERS: dict[str, tuple[bytes | dict[str, Any], bytes, int | None, type[CheckpointError]]] = {
    "not json": (b"{not json", b"", None, Corrupt),
    "json array": (b"[1, 2, 3]", b"", None, Corrupt),
    "deep json": (b"[" * 100_000 + b"]" * 100_000, b"", None, Corrupt),
    "header length 2^63": (b"{}", b"", 2**63, Corrupt),
    "header longer than file": (b"{}", b"", 4096, Short),
    "record not an object": ({"w": 5}, b"", None, Corrupt),
    "unknown dtype": ({"w": rec("Q7", [1], [0, 1])}, b"x", None, Corrupt),
    "negative shape": ({"w": rec("U8", [-1], [0, 1])}, b"x", None, Corrupt),
    "reversed offsets": ({"w": rec("U8", [1], [1, 0])}, b"x", None, Corrupt),
    "oversized tensor claim": ({"w": rec("F32", [10**6, 10**6], [0, 4])}, b"abcd", None, Corrupt),
    "offsets past EOF": ({"w": rec("U8", [64], [0, 64])}, b"x" * 8, None, Short),
    "overlapping tensors": (
        {"a": rec("U8", [4], [0, 4]), "b": rec("U8", [4], [2, 6])}, b"x" * 6, None, Corrupt
    ),
    "empty file": (b"", b"", 0, Short),
}  # fmt: skip


@pytest.mark.parametrize("case", list(HEADERS))
def test_malformed_safetensors_refused(tiny: Path, case: str) -> None:
    header, data, length, error = HEADERS[case]
    path = tiny / "model.safetensors"
    if case == "empty file":
        path.write_bytes(b"")
    else:
        write_safetensors(path, header, data, length=length)
    err = refused(tiny, error)
    assert "model.safetensors" in err.tensor
    assert inspect_main([str(tiny)]) == 1
    with pytest.raises(error):
        read_header(path)


def test_truncated_weights_refused(tiny: Path) -> None:
    path = tiny / "model.safetensors"
    path.write_bytes(path.read_bytes()[:-1000])
    err = refused(tiny, TruncatedFileError)
    assert err.tensor.endswith("model.safetensors")


@pytest.mark.parametrize(
    ("changes", "error", "names"),
    [
        ({"hidden_size": 48}, TensorShapeError, "model.embed_tokens.weight"),
        ({"vocab_size": 4096}, TensorShapeError, "model.embed_tokens.weight"),
        ({"intermediate_size": 96}, TensorShapeError, "mlp"),
        ({"num_key_value_heads": 4}, TensorShapeError, "self_attn.k_proj"),
        ({"num_hidden_layers": 1}, UnexpectedTensorError, "model.layers.1."),
        ({"hidden_size": "32"}, ManifestError, "config.json: hidden_size"),
        ({"num_attention_heads": 0}, ManifestError, "config.json: num_attention_heads"),
    ],
)
def test_config_with_wrong_shapes_refused(
    tiny: Path, changes: dict[str, Any], error: type[CheckpointError], names: str
) -> None:
    set_config(tiny, **changes)
    assert names in refused(tiny, error).tensor


@pytest.mark.parametrize("text", ["{broken", "[]", "[" * 100_000])
def test_unreadable_config_refused(tiny: Path, text: str) -> None:
    (tiny / "config.json").write_text(text)
    assert refused(tiny, ManifestError).tensor.endswith("config.json")


def sharded(tiny: Path, shard: str) -> None:
    """Replace the weights by an index whose weight_map names `shard`."""
    weights = tiny / "model.safetensors"
    names = list(read_header(weights))
    (tiny / "model-00001-of-00001.safetensors").write_bytes(weights.read_bytes())
    weights.unlink()
    index = {"metadata": {}, "weight_map": {n: shard for n in names}}
    (tiny / "model.safetensors.index.json").write_text(json.dumps(index))


@pytest.mark.parametrize(
    "shard", ["../outside.safetensors", "/etc/passwd", "a/../../x.safetensors"]
)
def test_index_pointing_outside_refused(tiny: Path, shard: str) -> None:
    (tiny.parent / "outside.safetensors").write_bytes(b"")
    sharded(tiny, shard)
    err = refused(tiny, UnsafeCheckpointError)
    assert "model.safetensors.index.json" in err.tensor and shard in err.found


def test_symlinks_escaping_the_folder_refused(tiny: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.safetensors"
    shutil.move(tiny / "model.safetensors", outside)
    (tiny / "model.safetensors").symlink_to(outside)
    assert refused(tiny, UnsafeCheckpointError).tensor.endswith("model.safetensors")
    shutil.move(outside, tiny / "model.safetensors", copy_function=shutil.copy2)
    (tiny / "tokenizer.json").unlink(missing_ok=True)
    (tiny / "tokenizer.json").symlink_to("/etc/passwd")
    assert refused(tiny, UnsafeCheckpointError).tensor.endswith("tokenizer.json")


def test_sharded_index_inside_and_hf_cache_symlinks_accepted(tiny: Path, tmp_path: Path) -> None:
    sharded(tiny, "model-00001-of-00001.safetensors")
    assert preflight(tiny) is None
    snapshot = tmp_path / "hub" / "models--org--tiny" / "snapshots" / "abc123"
    blobs = tmp_path / "hub" / "models--org--tiny" / "blobs"
    blobs.mkdir(parents=True)
    snapshot.mkdir(parents=True)
    for item in tiny.iterdir():
        shutil.copy2(item, blobs / item.name)
        (snapshot / item.name).symlink_to(Path("../../blobs") / item.name)
    assert preflight(snapshot) is None


@pytest.mark.parametrize("damage", ["pickle", "escape", "shape"])
def test_serve_refuses_before_starting_an_engine(tiny: Path, tmp_path: Path, damage: str) -> None:
    marker = tmp_path / "pwned"
    if damage == "pickle":
        (tiny / "model.safetensors").unlink()
        (tiny / "pytorch_model.bin").write_bytes(pickle.dumps(_Exploit(marker)))
    elif damage == "escape":
        sharded(tiny, "../../../../etc/passwd")
    else:
        set_config(tiny, hidden_size=64)
    proc = subprocess.run(
        [sys.executable, "-m", "server.cli", "serve", "--model", str(tiny), "--port", "1"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert f"model folder {tiny} refused" in proc.stderr
    assert "vllm" not in proc.stderr.lower() and not marker.exists()
