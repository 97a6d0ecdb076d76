"""The on-disk progress of a resumable compression run, under `<out>.partial/`.

Every write is atomic (written aside, then renamed), so an interrupted run leaves either the
previous or the new file: per-layer compressed tensors (`layerNNNN.st`), the next layer's inputs
(`acts.st`), the output Fisher (`fisher.st`), the progress and the config it belongs to (JSON).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from compress.types import CompressedLinear

if TYPE_CHECKING:
    import torch


def state_dir(out_dir: Path) -> Path:
    """Where per-layer progress lives while a run is incomplete."""
    return out_dir.with_name(out_dir.name + ".partial")


def layer_path(sdir: Path, index: int) -> Path:
    """The compressed tensors of decoder layer `index`."""
    return sdir / f"layer{index:04d}.st"


def atomic_json(path: Path, obj: Any) -> None:
    """Write `obj` as JSON to `path` atomically."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=1))
    os.replace(tmp, path)


def save_tensors(path: Path, tensors: dict[str, torch.Tensor], meta: dict[str, str]) -> None:
    """Write `tensors` (moved to CPU) as safetensors to `path` atomically."""
    from safetensors.torch import save_file

    tmp = path.with_suffix(".tmp")
    save_file({k: v.contiguous().cpu() for k, v in tensors.items()}, str(tmp), metadata=meta)
    os.replace(tmp, path)


def save_layer(path: Path, results: dict[str, CompressedLinear]) -> None:
    """Persist one layer's compressed linears (safetensors + JSON metadata)."""
    tensors = {f"{n}::{k}": v for n, c in results.items() for k, v in c.tensors.items()}
    info = {n: {"fmt": c.fmt, "shape": list(c.shape), "meta": c.meta} for n, c in results.items()}
    save_tensors(path, tensors, {"layers": json.dumps(info)})


def load_layer_results(path: Path) -> dict[str, CompressedLinear]:
    """Inverse of `save_layer`."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        info = json.loads(f.metadata()["layers"])
        raw = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    out = {}
    for name, d in info.items():
        t = {k.split("::", 1)[1]: v for k, v in raw.items() if k.split("::", 1)[0] == name}
        out[name] = CompressedLinear(d["fmt"], tuple(d["shape"]), t, d["meta"])
    return out
