"""Shared fixtures of the deploy checks: paths and the rendered kustomizations."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.unit.deploy.kustomize_lite import render

REPO = Path(__file__).resolve().parents[3]
DEPLOY = REPO / "deploy"
K8S = DEPLOY / "k8s"
# Every kustomization a user applies, by a short name.
KUSTOMIZATIONS = {
    "base": K8S / "base",
    "cpu": K8S / "overlays" / "cpu",
    "gpu": K8S / "overlays" / "gpu",
    "multinode-lws": K8S / "examples" / "multinode-lws",
}
OVERLAYS = ("cpu", "gpu")


def tool(name: str) -> str | None:
    """A command installed next to this interpreter (the venv) or on PATH."""
    import sys

    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else shutil.which(name)


@pytest.fixture(scope="session")
def rendered() -> dict[str, list[dict[str, Any]]]:
    """Each kustomization rendered by the test-side renderer."""
    return {name: render(path) for name, path in KUSTOMIZATIONS.items()}
