"""Test prerequisites in one place: where the default model lives, and what a missing one does.

Tests never hard-code a home path: they ask `default_model_dir()`, which resolves the cache the
way `structserve serve` does (`STRUCTSERVE_CACHE_DIR`, else `$XDG_CACHE_HOME/structserve`, else
`~/.cache/structserve`). `require` skips a test on a developer machine that lacks a prerequisite,
but fails it in CI (`CI` set), so a green CI cannot hide a test that never ran.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

DEFAULT_MODEL = "smollm2-135m-instruct"


def cache_dir() -> Path:
    """The structserve cache directory, resolved as the server resolves it."""
    explicit = os.environ.get("STRUCTSERVE_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "structserve"


def default_model_dir() -> Path:
    """The pulled default model's HF folder (`structserve models pull` puts it there)."""
    return cache_dir() / "models" / DEFAULT_MODEL


def in_ci() -> bool:
    """True when running under CI (`.ci/run` is started with CI=true)."""
    return os.environ.get("CI", "").lower() not in ("", "0", "false")


def require(ok: bool, why: str) -> None:
    """Skip (developer machine) or fail (CI) the calling test unless `ok`.

    Args:
        ok: whether the prerequisite is present.
        why: what is missing, e.g. "the default model (structserve models pull ...)".
    """
    if ok:
        return
    if in_ci():
        pytest.fail(f"prerequisite missing in CI: {why}", pytrace=False)
    pytest.skip(f"prerequisite missing: {why}")


def require_default_model() -> Path:
    """The default model's folder; skips (fails in CI) when it has not been pulled."""
    folder = default_model_dir()
    require((folder / "config.json").is_file(), f"the default model at {folder}")
    return folder


def require_native_kernels() -> None:
    """Skip (developer machine) or fail (CI) unless the native CPU kernels build and load.

    A CPU without AVX2 is hardware, not a missing install: that case always skips (as CUDA-only
    tests skip on a CPU machine).
    """
    from kernels import native

    try:
        native.load()
    except native.NativeUnavailableError as exc:
        if str(exc).startswith("this CPU has neither"):  # built, but this CPU cannot run them
            pytest.skip(f"native kernels: {exc}")
        require(False, f"the native CPU kernels ({exc})")
