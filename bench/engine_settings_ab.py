"""A/B of vLLM's documented CPU engine settings, end to end, interleaved round by round.

    python -m bench.engine_settings_ab --model DIR [--configs base mp0 mp0_omp1 vllm]
        [--rounds 1] [--port 8811] [--out results.jsonl]

Each configuration is one engine command + environment; a round starts each configuration's
engine in turn (one at a time), measures it with bench.kernels_serve's machinery (greedy texts
and logprobs of 4 prompts × 24 tokens, `--single` streamed single-stream requests of
`--tokens` tokens with ignore_eos, then 16 concurrent requests of the same length) and stops it.
Configurations:

* base: the engine command `structserve serve` builds today (server.supervisor.EngineSpec with
  the default settings: eager, KV 2 GiB, max-model-len 4096, guidance backend, native kernels
  auto), vLLM's multiprocess executor (API server, EngineCore, Worker: three processes).
* mp0: base + VLLM_ENABLE_V1_MULTIPROCESSING=0 (the model runs inside the EngineCore process:
  no Worker process, no shared-memory queue between scheduler and model).
* mp0_omp1: mp0 + OMP_NUM_THREADS=1 (vLLM's OpenMP binding runs only in the multiprocess
  executor, so mp0 leaves torch at its default of one thread per core).
* bind0: base + VLLM_CPU_OMP_THREADS_BIND=0 (worker pinned to core 0 instead of auto's choice).
* vllm: vLLM's own default path: `python -m vllm.entrypoints.openai.api_server --model DIR`
  (torch.compile, no structserve plugin: VLLM_PLUGINS="" and no kernels) with the same KV size
  and max-model-len.

Writes one JSON line per run (to stdout and `--out`, appended), so rounds can be separate
invocations; `--report FILE` prints the markdown table of a results file (per round: single
tok/s with the decode-only rate, 16-concurrent tok/s, each as a ratio to `base` and to `vllm` of
the same round) and whether the greedy texts of every run match the first `base` run.
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

from bench.kernels_serve import _run, wait_healthy
from model_loaders.vllm.native_config import native_engine_args
from server.settings import Settings
from server.supervisor import EngineSpec

CONFIG_ENV: dict[str, dict[str, str]] = {
    "base": {},
    "mp0": {"VLLM_ENABLE_V1_MULTIPROCESSING": "0"},
    "mp0_omp1": {"VLLM_ENABLE_V1_MULTIPROCESSING": "0", "OMP_NUM_THREADS": "1"},
    "bind0": {"VLLM_CPU_OMP_THREADS_BIND": "0"},
}


def engine_command(config: str, model: str, port: int) -> tuple[list[str], dict[str, str]]:
    """argv and environment of one configuration's engine (served name `m`)."""
    s = Settings()
    if config == "vllm":
        cmd = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", model]
        cmd += ["--served-model-name", "m", "--port", str(port)]
        cmd += ["--max-model-len", str(s.max_model_len)]
        env = dict(os.environ, VLLM_CPU_KVCACHE_SPACE=f"{s.kv_cache_gb:g}", VLLM_PLUGINS="")
        env["STRUCTSERVE_NATIVE_KERNELS"] = "off"
        return cmd, env
    spec = EngineSpec(
        model_path=model,
        served_name="m",
        host="127.0.0.1",
        port=port,
        enforce_eager=s.enforce_eager,
        kv_cache_gb=s.kv_cache_gb,
        max_model_len=s.max_model_len,
        extra_args=[
            "--structured-outputs-config",
            s.structured_outputs_config,
            *native_engine_args(model, s.native_kernels),
        ],
        env={"STRUCTSERVE_NATIVE_KERNELS": s.native_kernels, **CONFIG_ENV[config]},
    )
    return spec.command(), spec.environment()


def measure(config: str, args: argparse.Namespace, rnd: int) -> dict[str, object]:
    """Start one configuration's engine, measure it, stop it; the result row."""
    cmd, env = engine_command(config, args.model, args.port)
    log = Path(args.logs) / f"engine-ab-{config}-{rnd}.log"
    t0 = time.perf_counter()
    with log.open("wb") as fh:
        proc = subprocess.Popen(
            cmd, env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        url = f"http://127.0.0.1:{args.port}"
        wait_healthy(url, proc)
        ready_s = time.perf_counter() - t0
        measured = asyncio.run(_run(url, args.tokens, args.single))
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)
    load = os.getloadavg()[0]
    return {"config": config, "round": rnd, "ready_s": ready_s, "load1": load, **measured}


def _ratio(row: dict[str, Any], ref: dict[str, Any] | None, key: str) -> str:
    if ref is None or "error" in ref:
        return "–"
    return f"{row[key] / ref[key]:.2f}×"


def report(path: str) -> str:
    """Markdown table of a results file (one line per run) plus the greedy-text check."""
    rows = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    by_round: dict[int, dict[str, dict[str, Any]]] = {}
    for row in rows:
        by_round.setdefault(int(row["round"]), {})[str(row["config"])] = row
    out = [
        "| round | config | single tok/s (decode) | × base | × vllm | 16-conc tok/s | × base "
        "| × vllm | load1 |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for rnd, configs in sorted(by_round.items()):
        base, plain = configs.get("base"), configs.get("vllm")
        for name, row in configs.items():
            if "error" in row:
                out.append(f"| {rnd} | {name} | failed: {row['error']} | | | | | | |")
                continue
            out.append(
                f"| {rnd} | {name} | {row['single_tok_s']:.1f} ({row['single_decode_tok_s']:.1f})"
                f" | {_ratio(row, base, 'single_tok_s')} | {_ratio(row, plain, 'single_tok_s')}"
                f" | {row['c16_tok_s']:.0f} | {_ratio(row, base, 'c16_tok_s')}"
                f" | {_ratio(row, plain, 'c16_tok_s')} | {row['load1']:.1f} |"
            )
    ok = [r for r in rows if "error" not in r]
    ref = next((r for r in ok if r["config"] == "base"), ok[0] if ok else None)
    diffs = sorted({f"{r['config']}/{r['round']}" for r in ok if ref and _texts(r) != _texts(ref)})
    out.append("")
    out.append(f"greedy texts differing from the first base run: {diffs or 'none'}")
    return "\n".join(out)


def _texts(row: dict[str, Any]) -> list[str]:
    return [g["text"] for g in row["greedy"]]


def main() -> None:
    """Run the configurations in order, `--rounds` times, and append result lines."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", default=None)
    ap.add_argument("--configs", nargs="+", default=["base", "mp0", "mp0_omp1", "vllm"])
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--first-round", type=int, default=0, help="label of the first round")
    ap.add_argument("--port", type=int, default=8811)
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--single", type=int, default=3, help="single-stream requests per run")
    ap.add_argument("--logs", default="/tmp")
    ap.add_argument("--out", default=None, help="append the JSON lines here too")
    ap.add_argument("--report", default=None, help="print the table of this results file")
    args = ap.parse_args()
    if args.report:
        print(report(args.report))
        return
    for rnd in range(args.first_round, args.first_round + args.rounds):
        for config in args.configs:
            try:
                row = measure(config, args, rnd)
            except (RuntimeError, TimeoutError) as exc:  # engine refused to start: record it
                row = {"config": config, "round": rnd, "error": str(exc)}
            line = json.dumps(row)
            print(line, flush=True)
            if args.out:
                with open(args.out, "a") as fh:
                    fh.write(line + "\n")


if __name__ == "__main__":
    main()
