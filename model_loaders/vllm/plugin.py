"""vLLM general plugin: registers structserve's quantization config.

vLLM calls `register` in every process (API server, engine core, workers): it must be
idempotent and cheap. vLLM is imported only inside `register`.
"""

from __future__ import annotations

from model_loaders.checkpoint.manifest import QUANT_METHOD


def register() -> None:
    """Entry point of `vllm.general_plugins` (idempotent): register the "structserve" method."""
    from vllm.model_executor.layers.quantization import (
        QUANTIZATION_METHODS,
        register_quantization_config,
    )

    if QUANT_METHOD in QUANTIZATION_METHODS:
        return
    from model_loaders.vllm.config import StructServeConfig

    register_quantization_config(QUANT_METHOD)(StructServeConfig)
