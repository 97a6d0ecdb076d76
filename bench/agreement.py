"""Agreement check: our harness, `vllm bench serve` and GuideLLM on one server, interleaved.

Each tool drives the same OpenAI chat endpoint with the same workload shape (prompt of
`--input-len` tokens, `--output-len` output tokens with `ignore_eos`, temperature 0, fixed
concurrency); the tools run one after another in rounds (ours, vLLM, GuideLLM, ours, ...) so
that drift in the machine's speed hits all of them alike. Reported per tool and concurrency:
output tokens/s, TTFT p50 and decode time per output token p50 (TPOT; GuideLLM calls it ITL),
each tool's median over the rounds, and its ratio to ours.

    python -m bench.agreement --base-url http://127.0.0.1:8000 --tokenizer MODEL_DIR \\
        --guidellm /path/to/venv/bin/guidellm --concurrency 1,16 --num-prompts 16,64 \\
        --rounds 2 --out DIR
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.cli import csv_ints

TOOLS = ("ours", "vllm", "guidellm")
FIGURES = ("output_throughput", "median_ttft_ms", "median_tpot_ms")  # keys as vLLM names them


@dataclass(frozen=True)
class Point:
    """One tool's figures at one concurrency in one round."""

    tool: str
    concurrency: int
    round: int
    output_throughput: float  # output tokens / s over the run
    median_ttft_ms: float
    median_tpot_ms: float


@dataclass(frozen=True)
class Job:
    """What every tool is asked to do at one load point."""

    base_url: str
    model: str
    tokenizer: str
    concurrency: int
    num_prompts: int
    input_len: int
    output_len: int
    seed: int
    out_dir: Path


def _run(cmd: list[str], log: Path, env: dict[str, str] | None = None) -> None:
    with log.open("w") as fh:
        proc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[0]} … exited {proc.returncode}; see {log}")


def run_ours(job: Job, tag: str) -> dict[str, float]:
    """`structserve bench serve` at one concurrency; its headline figures."""
    out = job.out_dir / f"ours-{tag}"
    cmd = [sys.executable, "-m", "server.cli", "bench", "serve", "--base-url", job.base_url,
           "--model", job.model, "--api", "chat", "--tokenizer", job.tokenizer,
           "--workload", "synthetic", "--input-len", str(job.input_len),
           "--output-len", str(job.output_len), "--ignore-eos", "--temperature", "0",
           "--concurrency", str(job.concurrency), "--num-prompts", str(job.num_prompts),
           "--warmup", "2", "--seed", str(job.seed), "--no-plots", "--no-progress",
           "--result-dir", str(out)]  # fmt: skip
    _run(cmd, job.out_dir / f"ours-{tag}.log")
    point = json.loads((out / "result.json").read_text())["points"][0]
    return {k: float(point[k]) for k in FIGURES}


def run_vllm(job: Job, tag: str) -> dict[str, float]:
    """`vllm bench serve` (vLLM's own client, random dataset) at one concurrency."""
    out = job.out_dir / f"vllm-{tag}"
    cmd = [sys.executable, "-m", "bench.vllm_cli", "bench", "serve",
           "--backend", "openai-chat", "--endpoint", "/v1/chat/completions",
           "--base-url", job.base_url, "--model", job.model, "--tokenizer", job.tokenizer,
           "--dataset-name", "random", "--random-input-len", str(job.input_len),
           "--random-output-len", str(job.output_len), "--random-range-ratio", "0",
           "--num-prompts", str(job.num_prompts), "--max-concurrency", str(job.concurrency),
           "--request-rate", "inf", "--ignore-eos", "--temperature", "0", "--num-warmups", "2",
           "--seed", str(job.seed), "--save-result", "--result-dir", str(out),
           "--result-filename", "result.json"]  # fmt: skip
    _run(cmd, job.out_dir / f"vllm-{tag}.log")
    data = json.loads((out / "result.json").read_text())
    return {k: float(data[k]) for k in FIGURES}


def _guidellm_scenario(job: Job, path: Path) -> dict[str, Any]:
    return {
        "spec": {
            "backend": {
                "kind": "openai_http",
                "target": job.base_url,
                "model": job.model,
                "request_format": "/v1/chat/completions",
                "extras": {"body": {"temperature": 0}},
            },
            "profile": {"kind": "concurrent", "streams": [job.concurrency]},
            "data": [
                {
                    "kind": "synthetic_text",
                    "prompt_tokens": job.input_len,
                    "output_tokens": job.output_len,
                }
            ],
            "tokenizer": {"kind": "huggingface_auto", "model": job.tokenizer},
            "constraints": [{"kind": "max_requests", "count": job.num_prompts}],
            "seed": {"kind": "static", "value": job.seed},
            "outputs": [{"kind": "json", "path": str(path)}],
        }
    }


def guidellm_figures(report: dict[str, Any]) -> dict[str, float]:
    """Headline figures from a GuideLLM JSON report (first benchmark).

    Throughput is the successful requests' output tokens over the benchmark's duration (as
    vLLM and we count it); GuideLLM's `inter_token_latency_ms` is (E2E - TTFT) / (tokens - 1),
    which is vLLM's TPOT.
    """
    bench = report["benchmarks"][0]
    metrics = bench["metrics"]
    tokens = metrics["output_token_count"]["successful"]["total_sum"]
    return {
        "output_throughput": float(tokens) / float(bench["duration"]),
        "median_ttft_ms": float(metrics["time_to_first_token_ms"]["successful"]["median"]),
        "median_tpot_ms": float(metrics["inter_token_latency_ms"]["successful"]["median"]),
    }


def run_guidellm(job: Job, tag: str, binary: str) -> dict[str, float]:
    """GuideLLM (`guidellm run -c scenario.json`) at one concurrency."""
    report = job.out_dir / f"guidellm-{tag}.json"
    scenario = job.out_dir / f"guidellm-{tag}.scenario.json"
    scenario.write_text(json.dumps(_guidellm_scenario(job, report), indent=1))
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    cmd = [binary, "run", "-c", str(scenario), "--disable-progress"]
    _run(cmd, job.out_dir / f"guidellm-{tag}.log", env=env)
    return guidellm_figures(json.loads(report.read_text()))


def summarize(points: list[Point]) -> str:
    """Markdown table: per concurrency and tool, medians over rounds and ratios to ours."""
    rows = [
        "| conc. | tool | out tok/s | TTFT p50 ms | TPOT p50 ms | tok/s ÷ ours | TTFT ÷ ours "
        "| per-round tok/s | per-round TTFT p50 |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for conc in sorted({p.concurrency for p in points}):
        med: dict[str, dict[str, float]] = {}
        for tool in TOOLS:
            mine = [p for p in points if p.concurrency == conc and p.tool == tool]
            if not mine:
                continue
            med[tool] = {k: statistics.median(getattr(p, k) for p in mine) for k in FIGURES}
            ours = med.get("ours", med[tool])
            rows.append(
                f"| {conc} | {tool} | {med[tool]['output_throughput']:.1f} "
                f"| {med[tool]['median_ttft_ms']:.0f} | {med[tool]['median_tpot_ms']:.1f} "
                f"| {med[tool]['output_throughput'] / ours['output_throughput']:.3f} "
                f"| {med[tool]['median_ttft_ms'] / ours['median_ttft_ms']:.3f} "
                f"| {', '.join(f'{p.output_throughput:.1f}' for p in mine)} "
                f"| {', '.join(f'{p.median_ttft_ms:.0f}' for p in mine)} |"
            )
    return "\n".join(rows) + "\n"


def _runners(guidellm: str | None) -> dict[str, Callable[[Job, str], dict[str, float]]]:
    runners: dict[str, Callable[[Job, str], dict[str, float]]] = {
        "ours": run_ours,
        "vllm": run_vllm,
    }
    if guidellm:
        runners["guidellm"] = lambda job, tag: run_guidellm(job, tag, guidellm)
    return runners


def main(argv: list[str] | None = None) -> int:
    """Run the interleaved comparison; writes points.json and summary.md into --out."""
    p = argparse.ArgumentParser(prog="python -m bench.agreement", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--base-url", required=True)
    p.add_argument("--model", default="smollm2-135m-instruct")
    p.add_argument("--tokenizer", required=True, help="Model folder with the tokenizer.")
    p.add_argument("--guidellm", help="Path of the `guidellm` executable (own venv).")
    p.add_argument("--concurrency", type=csv_ints, default=[1, 16])
    p.add_argument("--num-prompts", type=csv_ints, default=[16, 64], help="One per concurrency.")
    p.add_argument("--input-len", type=int, default=128)
    p.add_argument("--output-len", type=int, default=64)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    if len(args.num_prompts) != len(args.concurrency):
        p.error("--num-prompts needs one value per --concurrency value")
    args.out.mkdir(parents=True, exist_ok=True)
    runners = _runners(args.guidellm)
    points: list[Point] = []
    for rnd in range(args.rounds):
        for conc, num in zip(args.concurrency, args.num_prompts, strict=True):
            job = Job(args.base_url, args.model, args.tokenizer, conc, num, args.input_len,
                      args.output_len, args.seed, args.out)  # fmt: skip
            for tool, run in runners.items():
                figures = run(job, f"c{conc}-r{rnd}")
                points.append(Point(tool, conc, rnd, **figures))
                print(f"round {rnd} c={conc} {tool}: {figures}", flush=True)
    (args.out / "points.json").write_text(json.dumps([p.__dict__ for p in points], indent=1))
    table = summarize(points)
    (args.out / "summary.md").write_text(table)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
