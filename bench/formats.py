"""Benchmark structserve formats in vLLM on this CPU: decode tok/s (c=1, c=16), TTFT
(a ~480-token prompt), weights, start.

    structserve bench formats \
        --model ~/.cache/structserve/models/smollm2-135m-instruct \
        --work /tmp/ssbench --out /tmp/ssbench/formats.json

Each variant compresses every decoder linear of the model with a simple deterministic method
(bench.speed_checkpoints: truncated SVD, magnitude 2:4, ...): speed and memory only, not quality.
Engines start one at a time (server.launcher: eager unless "compiled", 1 GiB KV cache) and are
stopped before the next. Every variant runs as `structserve serve` runs it: the native CPU kernels
(`auto`), a plain model through an empty structserve manifest; "vLLM's own kernels" turns them
off (vLLM alone, same flags).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

from bench.proc_sampler import ProcSampler
from model_loaders.checkpoint.resident import resident_weight_bytes
from model_loaders.vllm.native_config import native_engine_args
from server.launcher import EngineSpec, running_engine

PORT = 8340
READY_TIMEOUT_S = 1800.0
PROMPT = "Write a long story about a robot who learns to paint."
LONG_PROMPT = " ".join([PROMPT] * 40)  # ~480 tokens: TTFT is mostly prefill GEMMs


@dataclass(frozen=True)
class Variant:
    """One benchmark row: a checkpoint recipe and the 2:4 runtime mode."""

    name: str
    fmt: str  # "dense" = the original model
    options: dict[str, Any]
    mode: str = "dense"
    native: str = "auto"  # STRUCTSERVE_NATIVE_KERNELS
    eager: bool = True  # False: vLLM's torch.compile (the engine starts slower)


VARIANTS = [
    Variant("dense", "dense", {}),
    Variant("dense (vLLM's own kernels)", "dense", {}, native="off"),
    Variant("dense (compiled)", "dense", {}, eager=False),
    Variant("dense (vLLM's own kernels, compiled)", "dense", {}, native="off", eager=False),
    Variant("lowrank-50%", "lowrank", {"param_fraction": 0.5}),
    Variant("sparse24 (dense mode)", "sparse24", {}),
    Variant("sparse24 (compressed mode)", "sparse24", {}, mode="compressed"),
    Variant("spense (1/8 rows dense)", "spense", {}),
    Variant("armor (bs=32, dense mode)", "armor", {"block_size": 32}),
    Variant("armor (bs=32, compressed mode)", "armor", {"block_size": 32}, mode="compressed"),
    Variant("dictsparse (k=min/4, s=k/4)", "dictsparse", {}),
    Variant("dictsparse (k=min/4, s=k/4, compressed mode)", "dictsparse", {}, mode="compressed"),
]


def build(model: Path, work: Path, variant: Variant) -> Path:
    """The variant's checkpoint folder (built once, cached in `work`)."""
    if variant.fmt == "dense":
        return model
    import torch

    from bench.speed_checkpoints import simple_compress
    from model_loaders.formats.writer import load_dense_state, write_checkpoint

    out = work / variant.fmt
    if (out / "config.json").is_file():
        return out
    torch.set_num_threads(1)  # LAPACK SVD/QR: 20x faster than 2 contended threads here
    state = load_dense_state(model)
    layers = {}
    for key, w in state.items():
        if ".layers." not in key or not key.endswith("_proj.weight"):
            continue
        o, i = w.shape
        opts = dict(variant.options)
        if variant.fmt == "lowrank":
            opts = {"rank": int(opts.pop("param_fraction") * o * i / (o + i))}
        if variant.fmt == "dictsparse":
            k = min(o, i) // 4
            opts = {"atoms": k, "nnz_per_column": k // 4}
        with torch.no_grad():
            layers[key[: -len(".weight")]] = simple_compress(variant.fmt, w, **opts)
    return write_checkpoint(model, out, layers)


async def _one(client: httpx.AsyncClient, tokens: int) -> int:
    body = {"model": "m", "prompt": PROMPT, "max_tokens": tokens, "temperature": 0.0}
    body["ignore_eos"] = True
    res = await client.post("/v1/completions", json=body, timeout=600)
    res.raise_for_status()
    return int(res.json()["usage"]["completion_tokens"])


async def _ttft_ms(url: str, repeats: int) -> float:
    """Median time of a one-token completion of LONG_PROMPT (prefill + first token), ms."""
    times = []
    async with httpx.AsyncClient(base_url=url) as client:
        for _ in range(repeats + 1):  # the first one warms up
            body = {"model": "m", "prompt": LONG_PROMPT, "max_tokens": 1, "temperature": 0.0}
            start = time.perf_counter()
            (await client.post("/v1/completions", json=body, timeout=600)).raise_for_status()
            times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times[1:])


async def _throughput(url: str, concurrency: int, requests: int, tokens: int) -> float:
    async with httpx.AsyncClient(base_url=url) as client:
        await _one(client, 4)  # warm-up
        sem = asyncio.Semaphore(concurrency)

        async def task() -> int:
            async with sem:
                return await _one(client, tokens)

        start = time.perf_counter()
        done = await asyncio.gather(*(task() for _ in range(requests)))
        return sum(done) / (time.perf_counter() - start)


def engine_spec(folder: Path, variant: Variant) -> EngineSpec:
    """The engine of one variant, as `structserve serve` would start it (server.launcher)."""
    return EngineSpec(
        model_path=str(folder),
        served_name="m",
        host="127.0.0.1",
        port=PORT,
        kv_cache_gb=1.0,
        max_model_len=1024,
        enforce_eager=variant.eager,
        extra_args=["--max-num-seqs", "16", *native_engine_args(folder, variant.native)],
        env={
            "VLLM_CPU_KVCACHE_SPACE": "1",
            "STRUCTSERVE_SPARSE24_MODE": variant.mode,
            "STRUCTSERVE_NATIVE_KERNELS": variant.native,
        },
    )


def run_variant(folder: Path, variant: Variant, log: Path) -> dict[str, Any]:
    """Start the engine on `folder`, measure, stop it."""
    with running_engine(engine_spec(folder, variant), log, ready_timeout_s=None) as engine:
        ready_s = engine.wait_healthy(READY_TIMEOUT_S)
        tree = ProcSampler([engine.process.pid]).sample()  # the engine and its workers
        c1 = asyncio.run(_throughput(engine.url, 1, 2, 64))
        c16 = asyncio.run(_throughput(engine.url, 16, 16, 64))
        ttft = asyncio.run(_ttft_ms(engine.url, 3))
    return {
        "start_s": round(ready_s, 1),
        "tok_s_c1": round(c1, 1),
        "tok_s_c16": round(c16, 1),
        "ttft_ms": round(ttft, 1),
        "rss_bytes": tree.gateway_rss + tree.engine_rss,
    }


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; prints a markdown table and writes JSON to --out."""
    parser = argparse.ArgumentParser(prog="structserve bench formats", description=__doc__)
    parser.add_argument("--model", type=Path, required=True, help="dense HF folder")
    parser.add_argument("--work", type=Path, required=True, help="where checkpoints and logs go")
    parser.add_argument("--out", type=Path, required=True, help="JSON results")
    parser.add_argument("--only", nargs="*", help="variant names to run (default: all)")
    parser.add_argument(
        "--rounds", type=int, default=1, help="repeat the variants, alternating (noisy machine)"
    )
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    from model_loaders.checkpoint.describe import describe_folder

    rows = []
    chosen = [v for v in VARIANTS if not args.only or v.name in args.only]
    for round_, variant in ((r, v) for r in range(args.rounds) for v in chosen):
        folder = build(args.model, args.work, variant)
        compiled = "" if variant.eager else "-compiled"
        log = args.work / f"{variant.fmt}-{variant.mode}-{variant.native}{compiled}.log"
        result = run_variant(folder, variant, log)
        desc = describe_folder(folder)
        row = {**asdict(variant), **result, "disk_bytes": desc.get("weight_bytes")}
        row["round"] = round_
        row["resident_weight_bytes"] = resident_weight_bytes(folder, variant.mode)
        row["linear_ratio"] = desc.get("linear_compression_ratio")
        rows.append(row)
        print(json.dumps(row), flush=True)
        old = json.loads(args.out.read_text()) if args.out.is_file() else []
        new_keys = {(x["name"], x["round"]) for x in rows}
        kept = [r for r in old if (r["name"], r.get("round", 0)) not in new_keys]
        args.out.write_text(json.dumps(kept + rows, indent=2) + "\n")
    base = rows[0] if rows and rows[0]["fmt"] == "dense" else None
    print(table(rows, base))
    return 0


def table(rows: list[dict[str, Any]], base: dict[str, Any] | None) -> str:
    """Markdown table of the results (ratios against the dense row when present)."""
    lines = [
        "| variant | tok/s c=1 | tok/s c=16 | resident weights MB | vs dense | disk MB | start s |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        rel = f"{r['resident_weight_bytes'] / base['resident_weight_bytes']:.2f}x" if base else "-"
        speed = (
            f"{r['tok_s_c1']} ({r['tok_s_c1'] / base['tok_s_c1']:.2f}x)"
            if base
            else str(r["tok_s_c1"])
        )
        resident, disk = r["resident_weight_bytes"] / 1e6, r["disk_bytes"] / 1e6
        lines.append(
            f"| {r['name']} | {speed} | {r['tok_s_c16']} | {resident:.1f} | {rel} | {disk:.1f} "
            f"| {r['start_s']} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
