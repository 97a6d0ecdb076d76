"""bench.random_llama CLI: a bf16 random Llama with another model's vocabulary and tokenizer."""

from __future__ import annotations

import json
from pathlib import Path

from bench.random_llama import main, save_random_llama


def test_cli_takes_vocab_and_tokenizer_of_like(tmp_path: Path) -> None:
    like = save_random_llama(
        tmp_path / "like", vocab_size=96, hidden_size=16, intermediate_size=32,
        num_layers=1, num_heads=2, num_kv_heads=1, bos_token_id=5, eos_token_id=7,
    )  # fmt: skip
    (like / "tokenizer.json").write_text("{}")
    out = tmp_path / "out"
    args = ["--like", str(like), "--out", str(out), "--hidden", "32", "--intermediate", "64"]
    assert main([*args, "--layers", "2", "--heads", "4", "--kv-heads", "2"]) == 0
    config = json.loads((out / "config.json").read_text())
    assert (config["vocab_size"], config["hidden_size"], config["num_hidden_layers"]) == (96, 32, 2)
    assert (config["bos_token_id"], config["eos_token_id"]) == (5, 7)
    assert config["dtype"] == "bfloat16"
    assert (out / "tokenizer.json").read_text() == "{}"
