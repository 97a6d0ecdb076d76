"""Importers: bring existing compressed artefacts into the structserve format (docs/formats.md).

Run as `python -m model_loaders.catalog.importers KIND SRC OUT` with KIND one of IMPORTERS.
"""

from __future__ import annotations

_PKG = "model_loaders.catalog.importers"
IMPORTERS = {
    "compressed-tensors": f"{_PKG}.compressed_tensors:import_sparse24_bitmask",
    "armor": f"{_PKG}.armor_ref:import_armor",
    "rocket": f"{_PKG}.rocket:import_rocket",
}
