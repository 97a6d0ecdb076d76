"""SmolLM2 (bf16) served with the native CPU kernels on and off computes the same distribution.

Two engine starts, one at a time (server.launcher): STRUCTSERVE_NATIVE_KERNELS=off then on, both
through the structserve config (plain model + empty manifest). Free-running greedy text is not the
right comparison: bf16 GEMMs summing in a different order may flip the argmax where two tokens are
near-tied (seen on this machine: "...named Elwendi" vs "...named Elwes"), and the two texts then
diverge for good. So the kernels-off engine writes a greedy continuation, and the kernels-on engine
scores exactly those token ids (teacher forcing, `prompt_logprobs`). At every generated position:
the chosen token's logprob agrees within LOGPROB_TOL, and it is the kernels-on argmax unless the
two are tied within TIE_TOL.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from model_loaders.vllm.native_config import native_engine_args
from server.launcher import Engine, running_engine
from tests.integration.gateways import engine_spec
from tests.prereq import require_default_model, require_native_kernels

pytestmark = pytest.mark.integration
LOGPROB_TOL = 0.25  # nats: bf16 GEMMs summing in a different order
TIE_TOL = 0.25  # nats: a top-1 this close to the chosen token counts as a tie
NEW_TOKENS = 16
PROMPTS = [
    "The capital of France is",
    "def fibonacci(n):",
    "Three reasons to learn a second language:",
    "Once upon a time, in a small village,",
]


def _complete(engine: Engine, body: dict[str, Any]) -> dict[str, Any]:
    r = httpx.post(f"{engine.url}/v1/completions", json={"model": "m", **body}, timeout=300)
    r.raise_for_status()
    choice: dict[str, Any] = r.json()["choices"][0]
    return choice


def _run(model: Path, mode: str, log: Path, work: Any) -> Any:
    extra = native_engine_args(model, "on")
    spec = engine_spec(model, max_model_len=2048, extra_args=extra, STRUCTSERVE_NATIVE_KERNELS=mode)
    with running_engine(spec, log, ready_timeout_s=900) as engine:
        return work(engine)


def _greedy(engine: Engine) -> list[tuple[list[int], list[int], list[float]]]:
    """Per prompt: prompt token ids, greedy token ids, their logprobs."""
    out = []
    for prompt in PROMPTS:
        body = {"prompt": prompt, "max_tokens": NEW_TOKENS, "temperature": 0, "logprobs": 1}
        choice = _complete(engine, {**body, "return_token_ids": True})
        lps = choice["logprobs"]["token_logprobs"]
        out.append((choice["prompt_token_ids"], choice["token_ids"], lps))
    return out


def _score(engine: Engine, runs: list[tuple[list[int], list[int], list[float]]]) -> list[Any]:
    """Per prompt: the prompt_logprobs of prompt + greedy ids (top-1 included)."""
    scored = []
    for prompt_ids, gen_ids, _ in runs:
        body = {"prompt": prompt_ids + gen_ids, "max_tokens": 1, "temperature": 0}
        choice = _complete(engine, {**body, "prompt_logprobs": 1})
        scored.append(choice["prompt_logprobs"])
    return scored


def test_kernels_on_and_off_agree_under_teacher_forcing(tmp_path: Path) -> None:
    model = require_default_model()
    require_native_kernels()
    runs = _run(model, "off", tmp_path / "off.log", _greedy)
    scored = _run(model, "on", tmp_path / "on.log", lambda engine: _score(engine, runs))
    assert "native CPU kernels" in (tmp_path / "on.log").read_text(), "kernels not in use"
    for (prompt_ids, gen_ids, lps_off), per_pos in zip(runs, scored, strict=True):
        assert len(gen_ids) == NEW_TOKENS
        for k, (tok, lp_off) in enumerate(zip(gen_ids, lps_off, strict=True)):
            entry = {int(t): v["logprob"] for t, v in per_pos[len(prompt_ids) + k].items()}
            lp_on = entry[tok]
            where = f"prompt {prompt_ids[:4]}..., generated token {k} (id {tok})"
            assert abs(lp_on - lp_off) <= LOGPROB_TOL, f"{where}: {lp_on:.3f} vs {lp_off:.3f}"
            assert max(entry.values()) - lp_on <= TIE_TOL, f"{where}: not the argmax, {entry}"
