"""Reading a model folder without trusting it (no torch): which safetensors files, their headers.

A checkpoint is data from somewhere else. Every path it names must stay inside the folder
(no `..`, no absolute path, no symlink out of it); only safetensors are read, never pickle; a
header must be a bounded JSON object whose tensors fit the file exactly. Each violation is a
typed CheckpointError naming the file.
"""

from __future__ import annotations

import itertools
import json
import struct
from pathlib import Path
from typing import Any, cast

from model_loaders.checkpoint.errors import (
    CorruptHeaderError,
    TruncatedFileError,
    UnsafeCheckpointError,
)

INDEX_FILE = "model.safetensors.index.json"
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")
MAX_HEADER_BYTES = 100 * 1024 * 1024  # the safetensors library's own bound
MAX_INDEX_BYTES = 64 * 1024 * 1024
# safetensors dtype -> bytes per element
ELEMENT_BYTES = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E4M3": 1, "F8_E5M2": 1, "F8_E8M0": 1,
    "U16": 2, "I16": 2, "F16": 2, "BF16": 2,
    "U32": 4, "I32": 4, "F32": 4, "U64": 8, "I64": 8, "F64": 8,
}  # fmt: skip


def _hf_blobs(folder: Path) -> Path | None:
    """`models--org--name/blobs` when `folder` is a Hugging Face cache snapshot, else None."""
    if folder.parent.name == "snapshots" and folder.parent.parent.name.startswith("models--"):
        return folder.parent.parent / "blobs"
    return None


def inside(folder: Path, name: str, *, what: str) -> Path:
    """The file `name` (relative, as a manifest or index writes it) of `folder`.

    Raises UnsafeCheckpointError when `name` is absolute, climbs with `..`, or resolves (through
    symlinks) outside the folder. Symlinks into a Hugging Face cache's `blobs/` are allowed for
    a snapshot folder, since that is how the hub cache stores every file.
    """
    folder = Path(folder)
    rel = Path(name)
    if rel.is_absolute() or ".." in rel.parts or not rel.parts:
        raise UnsafeCheckpointError(what, expected="a path inside the model folder", found=name)
    path = folder / rel
    real, root = path.resolve(), folder.resolve()
    allowed = [root] + ([b.resolve()] if (b := _hf_blobs(folder)) is not None else [])
    if not any(real == base or base in real.parents for base in allowed):
        raise UnsafeCheckpointError(
            what, expected="a path inside the model folder", found=f"{name} -> {real}"
        )
    return path


def _index_shards(folder: Path, index: Path) -> list[str]:
    if index.stat().st_size > MAX_INDEX_BYTES:
        raise CorruptHeaderError(str(index), expected=f"<= {MAX_INDEX_BYTES} bytes", found="more")
    try:
        weight_map = json.loads(index.read_text()).get("weight_map")
    except (ValueError, AttributeError) as exc:
        raise CorruptHeaderError(str(index), expected="a JSON object", found=exc) from None
    if not isinstance(weight_map, dict) or not all(isinstance(v, str) for v in weight_map.values()):
        found = type(weight_map).__name__
        raise CorruptHeaderError(f"{index}: weight_map", expected="{tensor: file}", found=found)
    return sorted(set(weight_map.values()))


def safetensors_files(folder: Path) -> list[Path]:
    """The folder's safetensors files (the index's shards when sharded), each checked to lie
    inside the folder. Raises UnsafeCheckpointError, CorruptHeaderError."""
    folder = Path(folder)
    index = folder / INDEX_FILE
    if index.is_file():
        inside(folder, INDEX_FILE, what=str(index))
        names = _index_shards(folder, index)
        return [inside(folder, n, what=f"{index}: weight_map file") for n in names]
    files = sorted(folder.glob("*.safetensors"))
    return [inside(folder, p.name, what=str(p)) for p in files]


def refuse_pickle_only(folder: Path) -> None:
    """Raise UnsafeCheckpointError when the folder's weights exist only as pickle files."""
    folder = Path(folder)
    if any(folder.glob("*.safetensors")) or (folder / INDEX_FILE).is_file():
        return
    pickles = sorted(p.name for p in folder.iterdir() if p.suffix in PICKLE_SUFFIXES)
    if pickles:
        raise UnsafeCheckpointError(
            str(folder / pickles[0]),
            expected="safetensors weights (pickle is never loaded: it can execute code)",
            found=f"only pickle files {pickles[:5]}",
        )


def _is_span(offsets: Any) -> bool:
    if not isinstance(offsets, list) or len(offsets) != 2:
        return False
    if not all(isinstance(o, int) and not isinstance(o, bool) for o in offsets):
        return False
    return bool(0 <= offsets[0] <= offsets[1])


def _check_record(path: Path, name: str, rec: Any, data_bytes: int) -> tuple[int, int]:
    where = f"{path}: {name}"
    if not isinstance(rec, dict):
        raise CorruptHeaderError(where, expected="a tensor record object", found=rec)
    dtype, shape, offsets = rec.get("dtype"), rec.get("shape"), rec.get("data_offsets")
    if dtype not in ELEMENT_BYTES:
        raise CorruptHeaderError(where, expected="a safetensors dtype", found=dtype)
    ints = isinstance(shape, list) and all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
    )
    if not ints:
        raise CorruptHeaderError(where, expected="a shape of non-negative integers", found=shape)
    if not _is_span(offsets):
        raise CorruptHeaderError(where, expected="data_offsets [begin, end]", found=offsets)
    begin, end = cast(list[int], offsets)
    dims = cast(list[int], shape)
    elements = 1
    for d in dims:
        elements *= d
    want = elements * ELEMENT_BYTES[dtype]
    if end - begin != want:
        found = f"{end - begin} bytes at {offsets}"
        raise CorruptHeaderError(where, expected=f"{want} bytes for {dtype}{shape}", found=found)
    if end > data_bytes:
        expected = f"data of {name} up to byte {end}"
        raise TruncatedFileError(str(path), expected=expected, found=f"{data_bytes} data bytes")
    return begin, end


def _parse_header(path: Path, raw: bytes) -> dict[str, Any]:
    try:
        header = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise CorruptHeaderError(str(path), expected="a JSON header", found=exc) from None
    if not isinstance(header, dict):
        raise CorruptHeaderError(str(path), expected="a JSON object", found=type(header).__name__)
    meta = header.pop("__metadata__", None)
    if meta is not None and not isinstance(meta, dict):
        raise CorruptHeaderError(f"{path}: __metadata__", expected="an object", found=meta)
    return header


def read_header(path: Path) -> dict[str, dict[str, Any]]:
    """Tensor name -> {dtype, shape, data_offsets} from a safetensors header (no torch).

    Raises TruncatedFileError when the file is shorter than its header or tensors say, and
    CorruptHeaderError when the header is not a bounded JSON object of well-formed records whose
    byte ranges match their shapes and do not overlap.
    """
    size = path.stat().st_size
    with path.open("rb") as fh:
        head = fh.read(8)
        if len(head) < 8:
            raise TruncatedFileError(str(path), expected=">= 8 bytes", found=f"{size} bytes")
        (n,) = struct.unpack("<Q", head)
        if n > MAX_HEADER_BYTES:
            raise CorruptHeaderError(
                str(path), expected=f"a header of <= {MAX_HEADER_BYTES} bytes", found=f"{n} bytes"
            )
        if n > size - 8:
            raise TruncatedFileError(
                str(path), expected=f"a {n}-byte header", found=f"{size} bytes"
            )
        header = _parse_header(path, fh.read(n))
    spans = sorted(_check_record(path, k, v, size - 8 - n) for k, v in header.items())
    for (_, end), (begin, _) in itertools.pairwise(spans):
        if begin < end:
            raise CorruptHeaderError(str(path), expected="disjoint tensors", found="overlap")
    return header


def tensor_index(folder: Path) -> dict[str, dict[str, Any]]:
    """Tensor name -> header record (+ "file") over all the folder's safetensors files."""
    out: dict[str, dict[str, Any]] = {}
    for path in safetensors_files(folder):
        for name, rec in read_header(path).items():
            out[name] = {**rec, "file": path.name}
    return out
