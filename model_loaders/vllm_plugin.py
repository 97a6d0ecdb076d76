"""vLLM general plugin: registers structserve's quantization config and loaders.

vLLM calls `register` in every process (API server, engine core, workers): it must be
idempotent and cheap.
"""

from __future__ import annotations


def register() -> None:
    """Entry point of `vllm.general_plugins` (idempotent)."""
    return None
