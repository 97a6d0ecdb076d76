"""One builder of tiny random-init Llama checkpoints for the unit tests (no hub, no data)."""

from __future__ import annotations

from bench.random_llama import save_random_llama as save_tiny_llama

__all__ = ["save_tiny_llama"]
