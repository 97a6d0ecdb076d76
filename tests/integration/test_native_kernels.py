"""SmolLM2 (bf16) served with the native CPU kernels on and off gives the same greedy text.

Two engine starts, one at a time: STRUCTSERVE_NATIVE_KERNELS=on then off, both through the
structserve config (plain model + empty manifest). Tolerance: identical greedy tokens; the chosen
tokens' logprobs within LOGPROB_TOL (bf16 GEMMs summing in a different order).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from kernels import native
from model_loaders.vllm.native_config import native_engine_args
from tests.integration.conftest import free_port
from tests.unit.model_loaders.tiny_model import SMOLLM2

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not (SMOLLM2 / "config.json").is_file(), reason="needs SmolLM2"),
    pytest.mark.skipif(not native.available(), reason="native kernels unavailable"),
]
LOGPROB_TOL = 0.25
PROMPTS = [
    "The capital of France is",
    "def fibonacci(n):",
    "Three reasons to learn a second language:",
    "Once upon a time, in a small village,",
]


def start_engine(model: str, port: int, mode: str, log: Path) -> subprocess.Popen[bytes]:
    """vLLM on `model` with STRUCTSERVE_NATIVE_KERNELS=mode (its own process group)."""
    env = dict(os.environ, VLLM_CPU_KVCACHE_SPACE="1", STRUCTSERVE_NATIVE_KERNELS=mode)
    cmd = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", model]
    cmd += ["--served-model-name", "m", "--port", str(port), "--enforce-eager"]
    cmd += ["--max-model-len", "2048", *native_engine_args(model, "on")]
    with log.open("wb") as fh:
        return subprocess.Popen(
            cmd, env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True
        )


def wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout: float = 900) -> None:
    """Block until GET /health answers 200; raise if the engine exits or times out."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"engine exited with {proc.returncode}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(2)
    raise TimeoutError("engine did not become healthy")


def _greedy(model: Path, mode: str, log: Path) -> list[tuple[str, list[float]]]:
    port = free_port()
    proc = start_engine(str(model), port, mode, log)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc, timeout=900)
        out = []
        for prompt in PROMPTS:
            body = {"model": "m", "prompt": prompt, "max_tokens": 16, "temperature": 0}
            r = httpx.post(f"{url}/v1/completions", json={**body, "logprobs": 1}, timeout=300)
            r.raise_for_status()
            choice = r.json()["choices"][0]
            out.append((choice["text"], choice["logprobs"]["token_logprobs"]))
        return out
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)


def test_same_greedy_text_with_kernels_on_and_off(tmp_path: Path) -> None:
    on = _greedy(SMOLLM2, "on", tmp_path / "on.log")
    assert "native CPU kernels" in (tmp_path / "on.log").read_text(), "kernels not in use"
    off = _greedy(SMOLLM2, "off", tmp_path / "off.log")
    for (text_on, lp_on), (text_off, lp_off) in zip(on, off, strict=True):
        assert text_on == text_off
        assert max(abs(a - b) for a, b in zip(lp_on, lp_off, strict=True)) <= LOGPROB_TOL
