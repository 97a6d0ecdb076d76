"""One builder of tiny random-init Llama checkpoints for the unit tests (no hub, no data)."""

from __future__ import annotations

from pathlib import Path

import torch


def save_tiny_llama(
    out: Path,
    *,
    vocab_size: int,
    hidden_size: int,
    intermediate_size: int,
    num_layers: int,
    num_heads: int,
    num_kv_heads: int,
    max_positions: int = 256,
    initializer_range: float = 0.02,
    dtype: torch.dtype = torch.float32,
    seed: int = 0,
) -> Path:
    """Write a random-init LlamaForCausalLM (tied embeddings, bos 1 / eos 2) to `out`.

    Args:
        out: folder to write (created).
        vocab_size, hidden_size, intermediate_size, num_layers, num_heads, num_kv_heads,
        max_positions, initializer_range: the LlamaConfig fields.
        dtype: weights dtype on disk.
        seed: torch seed of the initialisation.

    Returns:
        `out`.
    """
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=hidden_size,
        intermediate_size=intermediate_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        num_key_value_heads=num_kv_heads,
        max_position_embeddings=max_positions,
        tie_word_embeddings=True,
        initializer_range=initializer_range,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=2,
    )
    out.mkdir(parents=True, exist_ok=True)
    LlamaForCausalLM(config).to(dtype).save_pretrained(out, safe_serialization=True)
    return out
