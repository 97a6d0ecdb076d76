"""End to end: SmolLM2 (or any plain HF folder) served by vLLM with the native kernels on vs off.

    python -m bench.kernels_serve --model DIR [--port 8810] [--repeats 2] [--tokens 128]

Starts one engine at a time (VLLM_CPU_KVCACHE_SPACE=1, --enforce-eager) with
STRUCTSERVE_NATIVE_KERNELS=on, then off, alternating `--repeats` times; per run: greedy texts and
top logprobs of a few prompts, single-stream output tok/s, and 16-concurrent output tok/s.
Prints one JSON line per run and a summary (ratios on/off, greedy agreement).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from model_loaders.native_config import native_engine_args

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


async def _complete(
    client: httpx.AsyncClient, url: str, prompt: str, tokens: int, **extra: Any
) -> dict[str, Any]:
    body = {"model": "m", "prompt": prompt, "max_tokens": tokens, "temperature": 0, **extra}
    r = await client.post(f"{url}/v1/completions", json=body, timeout=600)
    r.raise_for_status()
    return dict(r.json())


async def _run(url: str, tokens: int) -> dict[str, Any]:
    async with httpx.AsyncClient() as client:
        greedy = []
        for p in PROMPTS:
            out = await _complete(client, url, p, 24, logprobs=1)
            choice = out["choices"][0]
            greedy.append(
                {"text": choice["text"], "logprobs": choice["logprobs"]["token_logprobs"]}
            )
        await _complete(client, url, "warm up", 8)
        start = time.perf_counter()
        out = await _complete(client, url, PROMPTS[0], tokens, ignore_eos=True)
        single = out["usage"]["completion_tokens"] / (time.perf_counter() - start)
        start = time.perf_counter()
        outs = await asyncio.gather(
            *(
                _complete(client, url, f"{PROMPTS[i % 4]} {i}", tokens, ignore_eos=True)
                for i in range(16)
            )
        )
        total = sum(o["usage"]["completion_tokens"] for o in outs)
        concurrent = total / (time.perf_counter() - start)
    return {"greedy": greedy, "single_tok_s": single, "c16_tok_s": concurrent}


def main() -> None:
    """Alternate on/off engine runs and print results."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", required=True)
    ap.add_argument("--port", type=int, default=8810)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--logs", default="/tmp")
    args = ap.parse_args()
    url = f"http://127.0.0.1:{args.port}"
    runs = []
    for rep in range(args.repeats):
        for mode in ("on", "off"):
            proc = start_engine(
                args.model, args.port, mode, Path(args.logs) / f"engine-{mode}-{rep}.log"
            )
            try:
                wait_healthy(url, proc)
                result = {"mode": mode, "repeat": rep, **asyncio.run(_run(url, args.tokens))}
            finally:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=60)
            print(json.dumps({k: v for k, v in result.items() if k != "greedy"}), flush=True)
            runs.append(result)
    on = [r for r in runs if r["mode"] == "on"]
    off = [r for r in runs if r["mode"] == "off"]
    same_text = all(
        a["text"] == b["text"]
        for r in on
        for s in off
        for a, b in zip(r["greedy"], s["greedy"], strict=False)
    )
    max_dlp = max(
        abs(x - y)
        for r in on
        for s in off
        for a, b in zip(r["greedy"], s["greedy"], strict=False)
        for x, y in zip(a["logprobs"], b["logprobs"], strict=False)
        if a["text"] == b["text"]
    )
    summary = {
        "greedy_text_identical": same_text,
        "max_abs_logprob_diff": max_dlp,
        "single_on_over_off": [
            r["single_tok_s"] / s["single_tok_s"] for r, s in zip(on, off, strict=False)
        ],
        "c16_on_over_off": [r["c16_tok_s"] / s["c16_tok_s"] for r, s in zip(on, off, strict=False)],
        "texts_on": [g["text"] for g in on[0]["greedy"]],
        "texts_off": [g["text"] for g in off[0]["greedy"]],
    }
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
