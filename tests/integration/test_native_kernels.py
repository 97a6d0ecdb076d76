"""SmolLM2 (bf16) served with the native CPU kernels on and off gives the same greedy text.

Two engine starts, one at a time (server.launcher): STRUCTSERVE_NATIVE_KERNELS=on then off, both
through the structserve config (plain model + empty manifest). Tolerance: identical greedy tokens;
the chosen tokens' logprobs within LOGPROB_TOL (bf16 GEMMs summing in a different order).
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from model_loaders.vllm.native_config import native_engine_args
from server.launcher import running_engine
from tests.integration.gateways import engine_spec
from tests.prereq import require_default_model, require_native_kernels

pytestmark = pytest.mark.integration
LOGPROB_TOL = 0.25
PROMPTS = [
    "The capital of France is",
    "def fibonacci(n):",
    "Three reasons to learn a second language:",
    "Once upon a time, in a small village,",
]


def _greedy(model: Path, mode: str, log: Path) -> list[tuple[str, list[float]]]:
    extra = native_engine_args(model, "on")
    spec = engine_spec(model, max_model_len=2048, extra_args=extra, STRUCTSERVE_NATIVE_KERNELS=mode)
    with running_engine(spec, log, ready_timeout_s=900) as engine:
        out = []
        for prompt in PROMPTS:
            body = {"model": "m", "prompt": prompt, "max_tokens": 16, "temperature": 0}
            r = httpx.post(
                f"{engine.url}/v1/completions", json={**body, "logprobs": 1}, timeout=300
            )
            r.raise_for_status()
            choice = r.json()["choices"][0]
            out.append((choice["text"], choice["logprobs"]["token_logprobs"]))
        return out


def test_same_greedy_text_with_kernels_on_and_off(tmp_path: Path) -> None:
    model = require_default_model()
    require_native_kernels()
    on = _greedy(model, "on", tmp_path / "on.log")
    assert "native CPU kernels" in (tmp_path / "on.log").read_text(), "kernels not in use"
    off = _greedy(model, "off", tmp_path / "off.log")
    for (text_on, lp_on), (text_off, lp_off) in zip(on, off, strict=True):
        assert text_on == text_off
        assert max(abs(a - b) for a, b in zip(lp_on, lp_off, strict=True)) <= LOGPROB_TOL
