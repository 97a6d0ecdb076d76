"""The wheel the container images install carries what runs outside a source checkout."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def _build_wheel(work: Path) -> zipfile.ZipFile:
    """Build from a copy of the tracked files (no stale build/ or egg-info of the checkout)."""
    src, out = work / "src", work / "dist"
    tracked = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO, check=True, capture_output=True, text=True
    ).stdout.split("\0")
    for name in filter(None, tracked):
        if (REPO / name).is_file():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, src / name)
    cmd = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation"]
    subprocess.run([*cmd, str(src), "-w", str(out)], check=True, capture_output=True)
    (wheel,) = out.glob("structserve-*.whl")
    return zipfile.ZipFile(wheel)


def test_wheel_has_native_sources_and_plugin_entry_point(tmp_path: Path) -> None:
    wheel = _build_wheel(tmp_path)
    names = set(wheel.namelist())
    sources = sorted(p.relative_to(REPO).as_posix() for p in (REPO / "kernels/csrc").iterdir())
    assert sources, "kernels/csrc is empty"
    assert [s for s in sources if s not in names] == []  # native kernels compile from these
    (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
    text = wheel.read(entry_points).decode()
    assert "structserve = model_loaders.vllm.plugin:register" in text
    assert "structserve = server.cli:main" in text
