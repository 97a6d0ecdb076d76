"""Engine arguments that route plain models through structserve's quantization config.

vLLM only consults a quantization config for checkpoints that declare one. A plain (unquantized)
HF folder gets a structserve manifest without layers through `--hf-overrides`, so every linear
layer is "dense" and runs on the native CPU kernels (model_loaders.vllm.native_dense).
Torch-free: the gateway imports this.
"""

from __future__ import annotations

import json
from pathlib import Path

from model_loaders.checkpoint.manifest import QUANT_METHOD, SPEC_VERSION

NATIVE_MODES = ("auto", "on", "off")


def empty_manifest() -> dict[str, object]:
    """A structserve quantization_config with no compressed layers (docs/formats.md)."""
    return {"quant_method": QUANT_METHOD, "version": SPEC_VERSION, "layers": {}}


def native_engine_args(model_dir: Path | str, mode: str) -> list[str]:
    """vLLM arguments that let a plain model use the native kernels.

    Args:
        model_dir: the HF model folder the engine serves.
        mode: auto | on | off (STRUCTSERVE_NATIVE_KERNELS).

    Returns:
        `["--hf-overrides", json]` for a plain folder with mode auto/on; [] when the mode is off,
        the folder has no config.json, or it already declares a quantization_config (structserve
        checkpoints use the kernels anyway; other methods keep their own).
    """
    if mode not in NATIVE_MODES:
        raise ValueError(f"native kernels mode {mode!r} not in {NATIVE_MODES}")
    config_path = Path(model_dir) / "config.json"
    if mode == "off" or not config_path.is_file():
        return []
    config = json.loads(config_path.read_text())
    if not isinstance(config, dict) or config.get("quantization_config") is not None:
        return []
    return ["--hf-overrides", json.dumps({"quantization_config": empty_manifest()})]
