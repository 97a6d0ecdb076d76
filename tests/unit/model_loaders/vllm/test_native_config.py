"""Plain models reach the native kernels through an empty structserve manifest (--hf-overrides)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from model_loaders.checkpoint.manifest import parse_manifest
from model_loaders.vllm.native_config import native_engine_args
from tests.prereq import require_default_model


def _folder(tmp_path: Path, config: dict[str, object]) -> Path:
    (tmp_path / "config.json").write_text(json.dumps(config))
    return tmp_path


def test_plain_model_gets_an_empty_manifest(tmp_path: Path) -> None:
    args = native_engine_args(_folder(tmp_path, {"model_type": "llama"}), "auto")
    assert args[0] == "--hf-overrides"
    manifest = parse_manifest(json.loads(args[1])["quantization_config"])
    assert manifest.layers == {}


@pytest.mark.parametrize(
    ("config", "mode"),
    [
        ({"model_type": "llama"}, "off"),
        ({"quantization_config": {"quant_method": "structserve"}}, "on"),
        ({"quantization_config": {"quant_method": "gptq"}}, "auto"),
    ],
)
def test_no_override(tmp_path: Path, config: dict[str, object], mode: str) -> None:
    assert native_engine_args(_folder(tmp_path, config), mode) == []


def test_missing_folder_and_bad_mode(tmp_path: Path) -> None:
    assert native_engine_args(tmp_path / "nowhere", "on") == []
    with pytest.raises(ValueError, match="mode"):
        native_engine_args(tmp_path, "sometimes")


@pytest.mark.parametrize("mode", ["auto", "off"])
def test_gateway_passes_the_setting_and_the_override(mode: str) -> None:
    from server.serve import build_components
    from server.settings import Settings

    model = require_default_model()
    _pool, supervisor = build_components(Settings(model=str(model), native_kernels=mode))
    assert supervisor is not None
    assert supervisor.spec.env["STRUCTSERVE_NATIVE_KERNELS"] == mode
    assert ("--hf-overrides" in supervisor.spec.command()) == (mode != "off")
