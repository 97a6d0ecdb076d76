"""The structserve checkpoint manifest, read from a model folder's config.json (no torch).

`describe_folder` is what the gateway shows in /v1/models.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def describe_folder(folder: Path) -> dict[str, Any]:
    """Summarize a model folder: its compression format and ratio (dense when uncompressed)."""
    config_path = folder / "config.json"
    config: dict[str, Any] = {}
    if config_path.is_file():
        config = json.loads(config_path.read_text())
    quant = config.get("quantization_config") or {}
    if quant.get("quant_method") == "structserve":
        return {"format": "structserve", "compression_ratio": None}
    return {"format": "dense", "compression_ratio": 1.0}
