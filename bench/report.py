"""Benchmark output: the JSON result, the markdown summary, comparisons and provenance.

Each point in `points` is a flat dict keyed as `vllm bench serve` keys its result JSON, plus the
point's `label`, `target`, limits and server metrics; `provenance` records what produced it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import socket
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bench.latency import ratios

COMPARE_KEYS: tuple[str, ...] = (
    "median_ttft_ms",
    "p99_ttft_ms",
    "median_itl_ms",
    "p99_itl_ms",
    "median_tpot_ms",
    "median_e2el_ms",
    "output_throughput",
    "request_throughput",
)
PER_REQUEST_KEYS: tuple[str, ...] = (
    "input_lens",
    "output_lens",
    "ttfts",
    "itls",
    "latencies",
    "workloads",
    "errors",
)


def git_commit(repo: Path | None = None) -> str | None:
    """HEAD of the repository holding this package, `+dirty` when the tree has changes."""
    cwd = repo or Path(__file__).resolve().parent

    def git(*args: str, check: bool = False) -> str:
        run = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10, check=check
        )
        return run.stdout.strip()

    try:
        head = git("rev-parse", "HEAD", check=True)
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return None
    return head + ("+dirty" if dirty else "")


def machine() -> dict[str, Any]:
    """CPU model, core count, memory, OS and Python of this machine."""
    cpu = platform.processor() or None
    mem_gib = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem_gib = round(int(line.split()[1]) / 2**20, 1)
                break
    except OSError:
        pass
    return {
        "hostname": socket.gethostname(),
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "memory_gib": mem_gib,
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def provenance(
    argv: Sequence[str], *, model: str, seed: int, dataset: Mapping[str, Any]
) -> dict[str, Any]:
    """Everything needed to reproduce a run.

    Args:
        argv: the command line's arguments.
        model: model id benchmarked.
        seed: the run's seed.
        dataset: workload spec, request-list hash and source file hashes.

    Returns:
        The provenance block of the result JSON.
    """
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "git_commit": git_commit(),
        "argv": list(argv),
        "model_id": model,
        "seed": seed,
        "dataset": dict(dataset),
        "machine": machine(),
    }


def comparisons(points: Sequence[Mapping[str, Any]], names: Sequence[str]) -> list[dict]:
    """Ratios `names[0] / names[1]` of the compared keys, per point label."""
    if len(names) != 2:
        return []
    by_key = {(p["label"], p["target"]): p for p in points}
    out = []
    for label in dict.fromkeys(p["label"] for p in points):
        a, b = by_key.get((label, names[0])), by_key.get((label, names[1]))
        if a is None or b is None:
            continue
        out.append(
            {
                "label": label,
                "numerator": names[0],
                "denominator": names[1],
                "ratios": ratios(a, b, COMPARE_KEYS),
            }
        )
    return out


def write_json(path: Path, result: Mapping[str, Any], *, per_request: bool = True) -> None:
    """Write the result JSON (per-request lists dropped unless `per_request`)."""
    data = dict(result)
    if not per_request:
        data["points"] = [
            {k: v for k, v in p.items() if k not in PER_REQUEST_KEYS} for p in result["points"]
        ]
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")


def fmt_cell(value: Any, digits: int = 1) -> str:
    """A table cell: "–" for None, floats to `digits` decimals, anything else as str."""
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _gauge_max(point: Mapping[str, Any], name: str) -> Any:
    gauges = point.get("server_metrics") or {}
    return (gauges.get(name) or {}).get("max")


def markdown(result: Mapping[str, Any]) -> str:
    """A markdown summary: one row per point and target, then ratios, then the probe."""
    prov = result["provenance"]
    lines = [
        f"# Load test: {prov['model_id']}",
        "",
        f"{prov['date']} · commit `{prov['git_commit']}` · seed {prov['seed']} · "
        f"workload `{prov['dataset'].get('spec')}` · dataset sha256 "
        f"`{str(prov['dataset'].get('requests_sha256'))[:16]}` · {prov['machine']['cpu']} "
        f"({prov['machine']['cpu_count']} cores)",
        "",
        "| target | point | ok | fail | abort | req/s | out tok/s | TTFT p50 | TTFT p99 "
        "| TPOT p50 | ITL p50 | ITL p99 | E2E p50 | goodput | schema ok | run max | wait max "
        "| KV max |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for p in result["points"]:
        validity = p.get("schema_validity_rate")
        lines.append(
            "| "
            + " | ".join(
                [
                    p["target"],
                    p["label"],
                    str(p["completed"]),
                    str(p["failed"]),
                    str(p["aborted"]),
                    fmt_cell(p["request_throughput"], 2),
                    fmt_cell(p["output_throughput"]),
                    fmt_cell(p["median_ttft_ms"]),
                    fmt_cell(p["p99_ttft_ms"]),
                    fmt_cell(p["median_tpot_ms"]),
                    fmt_cell(p["median_itl_ms"]),
                    fmt_cell(p["p99_itl_ms"]),
                    fmt_cell(p["median_e2el_ms"]),
                    fmt_cell(p["request_goodput"], 2),
                    "–" if validity is None else f"{validity:.0%} ({p['schema_truncated']} cut)",
                    fmt_cell(_gauge_max(p, "vllm:num_requests_running"), 0),
                    fmt_cell(_gauge_max(p, "vllm:num_requests_waiting"), 0),
                    fmt_cell(_gauge_max(p, "vllm:kv_cache_usage_perc"), 3),
                ]
            )
            + " |"
        )
    lines += [
        "",
        "Latencies in ms. Errors by kind: "
        + "; ".join(
            f"{p['target']} {p['label']}: {_errors(p)}" for p in result["points"] if _errors(p)
        )
        if any(_errors(p) for p in result["points"])
        else "",
        "",
    ]
    lines += _comparison_lines(result.get("comparison") or [])
    probe = result.get("cancel_probe")
    if probe:
        lines += ["## Cancellation probe", "", "```", json.dumps(probe, indent=1), "```", ""]
    return "\n".join(lines)


def _errors(point: Mapping[str, Any]) -> str:
    return ", ".join(f"{k} {v}" for k, v in point["errors_by_kind"].items() if v)


def _comparison_lines(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    if not rows:
        return []
    head = f"## Ratios {rows[0]['numerator']} / {rows[0]['denominator']}"
    lines = [
        head,
        "",
        "| point | " + " | ".join(COMPARE_KEYS) + " |",
        "|---|" + "---|" * len(COMPARE_KEYS),
    ]
    for row in rows:
        cells = [fmt_cell(row["ratios"][k], 3) for k in COMPARE_KEYS]
        lines.append(f"| {row['label']} | " + " | ".join(cells) + " |")
    return [*lines, ""]
