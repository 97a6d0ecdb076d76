"""A tiny zip laid out like the bfcl-eval wheel (data files, possible answers, METADATA), and
where the real wheel lives when `scripts/test.sh` has fetched it."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

from bench.bfcl_data import BFCL_VERSION, wheel_name
from tests.prereq import cache_dir, require

AREA = {
    "name": "geometry.area",
    "description": "Area of a triangle.",
    "parameters": {
        "type": "dict",
        "properties": {
            "base": {"type": "integer", "description": "Base."},
            "height": {"type": "float", "description": "Height."},
            "unit": {"type": "string", "description": "Unit."},
        },
        "required": ["base", "height"],
    },
}

QUESTIONS: dict[str, list[dict[str, Any]]] = {
    "simple_python": [
        {
            "id": f"simple_python_{i}",
            "question": [[{"role": "user", "content": f"Area for base {i}, height 2?"}]],
            "function": [AREA],
        }
        for i in range(3)
    ],
    "irrelevance": [
        {
            "id": "irrelevance_0",
            "question": [[{"role": "user", "content": "Tell me a joke."}]],
            "function": [AREA],
        }
    ],
}

ANSWERS: dict[str, list[dict[str, Any]]] = {
    "simple_python": [
        {
            "id": f"simple_python_{i}",
            "ground_truth": [{"geometry.area": {"base": [i], "height": [2.0], "unit": ["cm", ""]}}],
        }
        for i in range(3)
    ],
}


def write_wheel(path: Path, *, version: int = 4) -> Path:
    """A zip with BFCL_v<version>_*.json questions and answers, like the wheel's data folder."""
    with zipfile.ZipFile(path, "w") as archive:
        for category, rows in QUESTIONS.items():
            name = f"bfcl_eval/data/BFCL_v{version}_{category}.json"
            archive.writestr(name, "\n".join(json.dumps(r) for r in rows) + "\n")
        for category, rows in ANSWERS.items():
            name = f"bfcl_eval/data/possible_answer/BFCL_v{version}_{category}.json"
            archive.writestr(name, "\n".join(json.dumps(r) for r in rows) + "\n")
        archive.writestr(
            f"bfcl_eval-{BFCL_VERSION}.dist-info/METADATA",
            f"Metadata-Version: 2.1\nName: bfcl-eval\nVersion: {BFCL_VERSION}\n",
        )
    return path


def real_wheel() -> Path:
    """The cached bfcl-eval wheel; skips (fails in CI) when `scripts/test.sh` has not fetched it."""
    wheel = cache_dir() / "bfcl" / wheel_name()
    require(wheel.is_file(), f"the bfcl-eval wheel at {wheel} (pip download --no-deps "
            f"bfcl-eval=={BFCL_VERSION} -d {wheel.parent})")  # fmt: skip
    return wheel
