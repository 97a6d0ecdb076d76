"""The real default model in the cache: converted, verified, idempotent to pull again."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from safetensors import safe_open

from tests.integration.gateways import Gateway
from tests.prereq import DEFAULT_MODEL, default_model_dir


def test_pulled_folder_is_verified_bf16_with_chat_template(gateway: Gateway) -> None:
    assert gateway.model == DEFAULT_MODEL
    folder = default_model_dir()
    marker = json.loads((folder / "structserve-model.json").read_text())
    assert marker["tensor_count"] == 272
    with safe_open(str(folder / "model.safetensors"), "pt") as fh:
        keys = list(fh.keys())
        assert len(keys) == 272
        assert str(fh.get_slice(keys[0]).get_dtype()) == "BF16"
    config = json.loads((folder / "config.json").read_text())
    assert config["architectures"] == ["LlamaForCausalLM"] and config["num_hidden_layers"] == 30
    assert "quantization_config" not in config
    assert (folder / "chat_template.jinja").is_file() or "chat_template" in json.loads(
        (folder / "tokenizer_config.json").read_text()
    )


def test_pull_again_is_a_no_op(gateway: Gateway) -> None:
    assert gateway.model == DEFAULT_MODEL
    folder = default_model_dir()
    before = (folder / "model.safetensors").stat().st_mtime_ns
    started = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-m", "server.cli", "models", "pull", gateway.model],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert Path(out.stdout.strip()) == folder
    assert time.monotonic() - started < 30
    assert (folder / "model.safetensors").stat().st_mtime_ns == before
