"""bench.formats starts each engine the way `structserve serve` would (native kernels setting)."""

from __future__ import annotations

import json
from pathlib import Path

from bench.formats import VARIANTS, Variant, engine_spec


def _plain_model(tmp_path: Path) -> Path:
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llama"}))
    return tmp_path


def _variant(name: str) -> Variant:
    return next(v for v in VARIANTS if v.name == name)


def engine_command(folder: Path, variant: Variant) -> tuple[list[str], dict[str, str]]:
    spec = engine_spec(folder, variant)
    return spec.command(), spec.environment()


def test_dense_runs_through_the_empty_manifest(tmp_path: Path) -> None:
    cmd, env = engine_command(_plain_model(tmp_path), _variant("dense"))
    overrides = json.loads(cmd[cmd.index("--hf-overrides") + 1])
    assert overrides["quantization_config"]["layers"] == {}
    assert env["STRUCTSERVE_NATIVE_KERNELS"] == "auto"


def test_vllm_own_dense_has_no_manifest(tmp_path: Path) -> None:
    cmd, env = engine_command(_plain_model(tmp_path), _variant("dense (vLLM's own kernels)"))
    assert "--hf-overrides" not in cmd
    assert env["STRUCTSERVE_NATIVE_KERNELS"] == "off"


def test_compressed_variant_keeps_its_manifest_and_mode(tmp_path: Path) -> None:
    config = {"model_type": "llama", "quantization_config": {"quant_method": "structserve"}}
    (tmp_path / "config.json").write_text(json.dumps(config))
    cmd, env = engine_command(tmp_path, _variant("sparse24 (compressed mode)"))
    assert "--hf-overrides" not in cmd  # its own quantization_config already routes it
    assert env["STRUCTSERVE_SPARSE24_MODE"] == "compressed"
