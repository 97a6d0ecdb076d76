"""The overlays render; the test-side renderer agrees with real kustomize where one is installed."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.unit.deploy.conftest import KUSTOMIZATIONS, tool
from tests.unit.deploy.kustomize_lite import (
    UnsupportedKustomize,
    apply_json_patch,
    render,
    split_image,
)


def _key(obj: dict) -> tuple[str, str, str, str]:
    meta = obj["metadata"]
    return obj["apiVersion"], obj["kind"], meta.get("namespace", ""), meta["name"]


# `patches` with a labelSelector target needs kustomize 4 or newer (kubectl 1.21+ embeds it).
MIN_KUSTOMIZE_MAJOR = 4


def _run(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)


def _kustomize_command() -> tuple[list[str] | None, str]:
    """The real renderer's command and its version, or (None, why not)."""
    if exe := tool("kustomize"):
        cmd, version = [exe, "build"], _run([exe, "version"]).stdout
    elif exe := tool("kubectl"):
        cmd = [exe, "kustomize"]
        version = json.loads(_run([exe, "version", "--client", "-o", "json"]).stdout or "{}").get(
            "kustomizeVersion", ""
        )
    else:
        return None, "no kustomize or kubectl binary installed (neither ships on PyPI)"
    major = re.search(r"v?(\d+)\.\d+", version)
    if not major or int(major.group(1)) < MIN_KUSTOMIZE_MAJOR:
        return None, f"kustomize {version.strip() or '?'} is older than v{MIN_KUSTOMIZE_MAJOR}"
    return cmd, version


def _real_kustomize(folder: Path) -> list[dict]:
    cmd, why = _kustomize_command()
    if cmd is None:
        pytest.skip(why)
    proc = _run([*cmd, str(folder)])
    assert proc.returncode == 0, proc.stderr
    return [doc for doc in yaml.safe_load_all(proc.stdout) if doc]


@pytest.mark.parametrize("name", list(KUSTOMIZATIONS))
def test_renders_unique_namespaced_objects(rendered, name: str) -> None:
    objects = rendered[name]
    keys = [_key(o) for o in objects]
    assert len(keys) == len(set(keys)), "duplicate objects"
    for obj in objects:
        if obj["kind"] != "Namespace":
            assert obj["metadata"].get("namespace") == "structserve", _key(obj)


@pytest.mark.parametrize("name", list(KUSTOMIZATIONS))
def test_agrees_with_real_kustomize(rendered, name: str) -> None:
    real = _real_kustomize(KUSTOMIZATIONS[name])
    mine = {_key(o): o for o in rendered[name]}
    theirs = {_key(o): o for o in real}
    assert mine.keys() == theirs.keys()
    for key, obj in mine.items():
        assert obj == theirs[key], key


def test_json_patch_operations() -> None:
    doc = {"a": {"list": [1, 2]}, "b": 1}
    apply_json_patch(
        doc,
        [
            {"op": "add", "path": "/a/list/-", "value": 3},
            {"op": "add", "path": "/a/list/0", "value": 0},
            {"op": "replace", "path": "/b", "value": 2},
            {"op": "add", "path": "/c~1d", "value": {"x": 1}},
            {"op": "remove", "path": "/a/list/1"},
            {"op": "test", "path": "/b", "value": 2},
        ],
    )
    assert doc == {"a": {"list": [0, 2, 3]}, "b": 2, "c/d": {"x": 1}}
    with pytest.raises(KeyError):
        apply_json_patch(doc, [{"op": "replace", "path": "/missing", "value": 1}])


def test_image_references() -> None:
    assert split_image("structserve") == ("structserve", None, None)
    assert split_image("reg:5000/ns/structserve:cpu") == ("reg:5000/ns/structserve", "cpu", None)
    assert split_image("structserve@sha256:ab") == ("structserve", None, "sha256:ab")


def test_unsupported_features_fail_loudly(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text("resources: []\ncommonLabels: {a: b}\n")
    with pytest.raises(UnsupportedKustomize):
        render(tmp_path)
    (tmp_path / "kustomization.yaml").write_text(
        "resources: []\npatches:\n  - patch: |-\n      kind: Deployment\n"
    )
    with pytest.raises(UnsupportedKustomize):
        render(tmp_path)
