"""structserve's vLLM quantization config: one config, a linear method per layer (imports vLLM).

Registered by `model_loaders.vllm.plugin.register`; chosen by vLLM because config.json says
`"quant_method": "structserve"`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from vllm.model_executor.layers.linear import LinearBase, UnquantizedLinearMethod
from vllm.model_executor.layers.quantization.base_config import (
    QuantizationConfig,
    QuantizeMethodBase,
)
from vllm.model_executor.layers.vocab_parallel_embedding import ParallelLMHead

from model_loaders.checkpoint.checks import check_folder
from model_loaders.checkpoint.errors import ManifestError
from model_loaders.checkpoint.manifest import (
    QUANT_METHOD,
    SPARSE24_MODE_ENV,
    SPARSE24_MODES,
    Manifest,
    parse_manifest,
    requested_sparse24_mode,
)
from model_loaders.checkpoint.specs import Format
from model_loaders.vllm.linear_method import StructServeLinearMethod
from model_loaders.vllm.native_dense import (
    NativeDenseLinearMethod,
    NativeLMHeadMethod,
    native_enabled,
)

# vLLM merged layer -> the checkpoint layers it holds (used when the model declares none).
DEFAULT_PACKED = {
    "qkv_proj": ["q_proj", "k_proj", "v_proj"],
    "gate_up_proj": ["gate_proj", "up_proj"],
}


def resolve_mode(manifest: Manifest) -> str:
    """The 2:4 runtime mode: $STRUCTSERVE_SPARSE24_MODE, else the manifest's, else "dense"."""
    mode = requested_sparse24_mode(manifest)
    if mode not in SPARSE24_MODES:
        raise ManifestError(SPARSE24_MODE_ENV, expected=SPARSE24_MODES, found=mode)
    return mode


class StructServeConfig(QuantizationConfig):
    """Quantization config for structserve checkpoints (docs/formats.md)."""

    def __init__(self, manifest: Manifest) -> None:
        super().__init__()
        self.manifest = manifest
        self.mode = resolve_mode(manifest)

    def get_name(self) -> Any:
        """The quant_method name."""
        return QUANT_METHOD

    def get_supported_act_dtypes(self) -> list[torch.dtype]:
        """Activation dtypes the linear methods accept."""
        return [torch.bfloat16, torch.float16, torch.float32]

    @classmethod
    def get_min_capability(cls) -> int:
        """No GPU requirement (the torch paths run anywhere)."""
        return 0

    @staticmethod
    def get_config_filenames() -> list[str]:
        """The manifest lives in config.json's quantization_config; no extra file."""
        return []

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> StructServeConfig:
        """Parse `quantization_config` (raises ManifestError)."""
        return cls(parse_manifest(config))

    def maybe_update_config(
        self, model_name: str, hf_config: Any = None, revision: Any = None
    ) -> None:
        """Check names, shapes, dtypes and file sizes before any weight loads (local folders)."""
        if Path(model_name).is_dir():
            check_folder(model_name)

    def _shards(self, prefix: str) -> list[str]:
        base, _, last = prefix.rpartition(".")
        parts = self.packed_modules_mapping.get(last) or DEFAULT_PACKED.get(last)
        if not parts:
            return [prefix]
        return [f"{base}.{p}" if base else p for p in parts]

    def get_quant_method(self, layer: torch.nn.Module, prefix: str) -> QuantizeMethodBase | None:
        """A StructServeLinearMethod for linear layers with a compressed shard, else dense
        (native CPU kernels for dense layers and the LM head when enabled, kernels/native.py)."""
        if isinstance(layer, ParallelLMHead) and native_enabled():
            return NativeLMHeadMethod()
        if not isinstance(layer, LinearBase):
            return None
        names = self._shards(prefix)
        entries = [self.manifest.layers.get(n) for n in names]
        if all(e is None or e.format is Format.DENSE for e in entries):
            return NativeDenseLinearMethod() if native_enabled() else UnquantizedLinearMethod()
        return StructServeLinearMethod(entries, names, mode=self.mode)
