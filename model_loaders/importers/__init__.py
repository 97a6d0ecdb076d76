"""Importers: bring existing compressed artefacts into the structserve format (docs/formats.md).

Run as `python -m model_loaders.importers KIND SRC OUT` with KIND one of IMPORTERS.
"""

from __future__ import annotations

IMPORTERS = {
    "compressed-tensors": "model_loaders.importers.compressed_tensors:import_sparse24_bitmask",
    "armor": "model_loaders.importers.armor_ref:import_armor",
    "rocket": "model_loaders.importers.rocket:import_rocket",
}
