"""Random-init Llama checkpoints: tiny ones for tests, large ones for decode-speed benchmarks.

    structserve bench random-model --like ~/.cache/structserve/models/smollm2-135m-instruct \
        --out /work/tmp/scale/llama08b --hidden 2048 --intermediate 5632 --layers 16 \
        --heads 32 --kv-heads 8

The CLI takes the vocabulary and tokenizer files of `--like` and writes bf16 weights. Weights
are random (seeded), so the text is meaningless: speed and memory only.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


def save_random_llama(
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
    dtype: torch.dtype | None = None,
    seed: int = 0,
    bos_token_id: int = 1,
    eos_token_id: int = 2,
) -> Path:
    """Write a random-init LlamaForCausalLM (tied embeddings, pad = eos) to `out`.

    Args:
        out: folder to write (created).
        vocab_size, hidden_size, intermediate_size, num_layers, num_heads, num_kv_heads,
        max_positions, initializer_range, bos_token_id, eos_token_id: the LlamaConfig fields.
        dtype: weights dtype on disk (default float32).
        seed: torch seed of the initialisation.

    Returns:
        `out`.
    """
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=vocab_size, hidden_size=hidden_size, intermediate_size=intermediate_size,
        num_hidden_layers=num_layers, num_attention_heads=num_heads,
        num_key_value_heads=num_kv_heads, max_position_embeddings=max_positions,
        tie_word_embeddings=True, initializer_range=initializer_range,
        bos_token_id=bos_token_id, eos_token_id=eos_token_id, pad_token_id=eos_token_id,
    )  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    model = LlamaForCausalLM(config).to(dtype or torch.float32)
    model.save_pretrained(out, safe_serialization=True, max_shard_size="10GB")
    return out


def main(argv: list[str] | None = None) -> int:
    """CLI entry point: a bf16 random Llama with `--like`'s vocabulary and tokenizer."""
    import torch
    from transformers import AutoConfig

    from compress.hf_folder import copy_side_files

    p = argparse.ArgumentParser(prog="structserve bench random-model", description=__doc__)
    p.add_argument("--like", type=Path, required=True, help="HF folder giving tokenizer/vocab")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--hidden", type=int, default=2048)
    p.add_argument("--intermediate", type=int, default=5632)
    p.add_argument("--layers", type=int, default=16)
    p.add_argument("--heads", type=int, default=32)
    p.add_argument("--kv-heads", type=int, default=8)
    a = p.parse_args(argv)
    like = AutoConfig.from_pretrained(a.like)
    save_random_llama(
        a.out, vocab_size=like.vocab_size, hidden_size=a.hidden, intermediate_size=a.intermediate,
        num_layers=a.layers, num_heads=a.heads, num_kv_heads=a.kv_heads, max_positions=2048,
        dtype=torch.bfloat16, bos_token_id=like.bos_token_id, eos_token_id=like.eos_token_id,
    )  # fmt: skip
    copy_side_files(a.like, a.out)  # tokenizer, chat template, generation config
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
