"""End to end: SmolLM2 (or any plain HF folder) served by vLLM with the native kernels on vs off.

    python -m bench.kernels_serve --model DIR [--port 8810] [--repeats 2] [--tokens 128]
        [--llamacpp-gguf F.gguf --llamacpp-pkg DIR]

Starts one engine at a time (VLLM_CPU_KVCACHE_SPACE=1, --enforce-eager) with
STRUCTSERVE_NATIVE_KERNELS=on, then off, alternating `--repeats` times; per run: greedy texts and
top logprobs of a few prompts, single-stream output tok/s (`--single` streamed requests after a
warm-up: completion tokens / wall time, and the decode-only rate between the first and the last
token), and 16-concurrent output tok/s. With `--llamacpp-gguf`, each round also runs llama.cpp
(bench/llamacpp.mjs, 1 and 2 threads) on that GGUF between the engines, so all three alternate.
Prints one JSON line per run and a summary (ratios on/off, greedy agreement).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from model_loaders.vllm.native_config import native_engine_args

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


async def _single(client: httpx.AsyncClient, url: str, tokens: int) -> tuple[float, float]:
    """One streamed greedy request: (completion tokens / wall, decode-only tokens/s)."""
    body = {"model": "m", "prompt": PROMPTS[0], "max_tokens": tokens, "temperature": 0}
    body |= {"ignore_eos": True, "stream": True, "stream_options": {"include_usage": True}}
    start = time.perf_counter()
    first = last = 0.0
    count = 0
    async with client.stream("POST", f"{url}/v1/completions", json=body, timeout=600) as r:
        r.raise_for_status()
        async for line in r.aiter_lines():
            if not line.startswith("data: {"):
                continue
            event = json.loads(line[6:])
            if event.get("choices"):
                last = time.perf_counter()
                first = first or last
            if event.get("usage"):
                count = int(event["usage"]["completion_tokens"])
    return count / (last - start), (count - 1) / (last - first)


async def _run(url: str, tokens: int, singles: int) -> dict[str, Any]:
    async with httpx.AsyncClient() as client:
        greedy = []
        for p in PROMPTS:
            out = await _complete(client, url, p, 24, logprobs=1)
            choice = out["choices"][0]
            greedy.append(
                {"text": choice["text"], "logprobs": choice["logprobs"]["token_logprobs"]}
            )
        await _complete(client, url, "warm up", 8)
        runs = [await _single(client, url, tokens) for _ in range(singles)]
        single = statistics.median(r[0] for r in runs)
        decode = statistics.median(r[1] for r in runs)
        start = time.perf_counter()
        outs = await asyncio.gather(
            *(
                _complete(client, url, f"{PROMPTS[i % 4]} {i}", tokens, ignore_eos=True)
                for i in range(16)
            )
        )
        total = sum(o["usage"]["completion_tokens"] for o in outs)
        concurrent = total / (time.perf_counter() - start)
    return {
        "greedy": greedy,
        "single_tok_s": single,
        "single_decode_tok_s": decode,
        "single_runs": runs,
        "c16_tok_s": concurrent,
    }


def run_llamacpp(gguf: str, pkg: str, tokens: int, repeats: int) -> list[dict[str, Any]]:
    """bench/llamacpp.mjs on `gguf` with 1 and 2 threads; its JSON lines."""
    script = Path(__file__).with_name("llamacpp.mjs")
    cmd = ["node", str(script), "--pkg", pkg, "--model", gguf, "--threads", "1", "2"]
    cmd += ["--tokens", str(tokens), "--repeats", str(repeats)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def llamacpp_round(args: argparse.Namespace, rep: int) -> list[dict[str, Any]]:
    """One llama.cpp run per thread count (median over its repeats), as result rows."""
    lines = run_llamacpp(args.llamacpp_gguf, args.llamacpp_pkg, args.tokens, args.single)
    rows = []
    for threads in sorted({int(x["threads"]) for x in lines}):
        mine = [x for x in lines if x["threads"] == threads]
        rows.append(
            {
                "mode": f"llama.cpp {threads}t",
                "repeat": rep,
                "single_tok_s": statistics.median(x["total_tok_s"] for x in mine),
                "single_decode_tok_s": statistics.median(x["decode_tok_s"] for x in mine),
                "single_runs": [(x["total_tok_s"], x["decode_tok_s"]) for x in mine],
            }
        )
    return rows


def main() -> None:
    """Alternate on/off engine runs and print results."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", required=True)
    ap.add_argument("--port", type=int, default=8810)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--single", type=int, default=3, help="single-stream requests per run")
    ap.add_argument("--logs", default="/tmp")
    ap.add_argument("--llamacpp-gguf", default=None, help="also run llama.cpp on this GGUF")
    ap.add_argument("--llamacpp-pkg", default=None, help="dir of `npm install node-llama-cpp`")
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
                measured = asyncio.run(_run(url, args.tokens, args.single))
                result = {"mode": mode, "repeat": rep, **measured}
            finally:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=60)
            print(json.dumps({k: v for k, v in result.items() if k != "greedy"}), flush=True)
            runs.append(result)
        if args.llamacpp_gguf:
            for row in llamacpp_round(args, rep):
                print(json.dumps(row), flush=True)
                runs.append(row)
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
    llama = [r for r in runs if r["mode"] == "llama.cpp 1t"]
    summary = {
        "greedy_text_identical": same_text,
        "max_abs_logprob_diff": max_dlp,
        "single_on_over_off": [
            r["single_tok_s"] / s["single_tok_s"] for r, s in zip(on, off, strict=False)
        ],
        "c16_on_over_off": [r["c16_tok_s"] / s["c16_tok_s"] for r, s in zip(on, off, strict=False)],
        "single_on_over_llamacpp_1t": [
            r["single_tok_s"] / s["single_tok_s"] for r, s in zip(on, llama, strict=False)
        ],
        "texts_on": [g["text"] for g in on[0]["greedy"]],
        "texts_off": [g["text"] for g in off[0]["greedy"]],
    }
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
