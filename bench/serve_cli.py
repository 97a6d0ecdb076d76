"""`structserve bench serve`: load-test any OpenAI-compatible endpoint with streaming requests.

Writes `result.json` (keys as `vllm bench serve` names them), `summary.md` and PNG plots.
Examples:

    structserve bench serve --base-url http://127.0.0.1:8000 --concurrency 1,16 --num-prompts 64
    structserve bench serve --sweep 4 --workload chat:3,json:1 --slo ttft=1000,tpot=100
    structserve bench serve --base-url http://127.0.0.1:8000 --name gateway \\
        --compare-base-url http://127.0.0.1:8100 --compare-name engine --concurrency 1,16
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import cancel_probe as probe
from bench import plots, report
from bench.client import Endpoint
from bench.latency import Slo
from bench.loadgen import Limits, LoadShape
from bench.options import (
    WorkloadConfig,
    add_workload_args,
    build_workload,
    csv_floats,
    csv_ints,
    resolve_model,
    utc_stamp,
)
from bench.records import BenchRequest
from bench.runner import RunOptions, Target, make_client, run_shapes, run_sweep
from compress.options import from_namespace
from compress.shared_data import shared_data_dir


@dataclass(frozen=True)
class TargetConfig:
    """Which servers: the `target` flags (see `--help`)."""

    base_url: str
    name: str
    compare_base_url: str | None
    compare_name: str
    compare_rounds: int | None
    model: str | None
    api: str
    api_key: str | None
    metrics_url: str | None
    compare_metrics_url: str | None
    metrics_interval: float


@dataclass(frozen=True)
class LoadConfig:
    """How hard: the `load` flags (see `--help`)."""

    concurrency: list[int] | None
    request_rate: list[float] | None
    burstiness: float
    max_concurrency: int | None
    sweep: int | None
    warmup: int
    max_duration: float | None
    max_error_rate: float | None
    request_timeout: float
    cancel_probe: int


@dataclass(frozen=True)
class OutputConfig:
    """What is written: the `output` flags (see `--help`)."""

    slo: Slo | None
    percentiles: list[float]
    result_dir: str | None
    no_plots: bool
    no_per_request: bool
    no_progress: bool


@dataclass(frozen=True)
class ServeConfig:
    """All of `structserve bench serve`'s flags, parsed once."""

    target: TargetConfig
    workload: WorkloadConfig
    load: LoadConfig
    output: OutputConfig

    @classmethod
    def parse(cls, argv: Sequence[str]) -> ServeConfig:
        """Parse the command line (exits with usage on a bad flag)."""
        args = build_parser().parse_args(list(argv))
        return cls(
            from_namespace(TargetConfig, args),
            from_namespace(WorkloadConfig, args),
            from_namespace(LoadConfig, args),
            from_namespace(OutputConfig, args),
        )


def build_parser() -> argparse.ArgumentParser:
    """The `structserve bench serve` argument parser."""
    p = argparse.ArgumentParser(
        prog="structserve bench serve",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _target_args(p.add_argument_group("target"))
    add_workload_args(p.add_argument_group("workload"), shared_data_dir())
    _load_args(p.add_argument_group("load"))
    _output_args(p.add_argument_group("output"))
    return p


def _target_args(t: argparse._ArgumentGroup) -> None:
    add = t.add_argument
    add("--base-url", default="http://127.0.0.1:8000", help="Server root URL.")
    add("--name", default="target", help="Label of --base-url in reports.")
    add("--compare-base-url", help="A second server run on the same workload in alternating "
        "rounds; ratios are --name / --compare-name.")  # fmt: skip
    add("--compare-name", default="base", help="Label of --compare-base-url.")
    add("--compare-rounds", type=int, help="Rounds per point when comparing (A B, B A, ...; "
        "default: one round per --concurrency requests, so at concurrency 1 the targets "
        "alternate every request).")  # fmt: skip
    add("--model", help="Model id (default: the first from GET /v1/models).")
    add("--api", choices=("chat", "completions"), default="chat",
        help="Endpoint: /v1/chat/completions or /v1/completions.")  # fmt: skip
    add("--api-key", default=os.environ.get("OPENAI_API_KEY"),
        help="Bearer token (default: $OPENAI_API_KEY).")  # fmt: skip
    add("--metrics-url",
        help="Prometheus URL of the target (default: ROOT/metrics; 'none' to skip).")  # fmt: skip
    add("--compare-metrics-url", help="Prometheus URL of the compared server.")
    add("--metrics-interval", type=float, default=1.0,
        help="Seconds between /metrics samples during a point (0: ends only).")  # fmt: skip


def _load_args(lo: argparse._ArgumentGroup) -> None:
    add = lo.add_argument
    add("--concurrency", type=csv_ints, help="Closed-loop points: requests in flight, e.g. 1,16.")
    add("--request-rate", type=csv_floats,
        help="Open-loop points: requests/s, e.g. 1,2,4 (inf: all at once).")  # fmt: skip
    add("--burstiness", type=float, default=1.0,
        help="Gamma shape of inter-arrival times (1: Poisson, <1: burstier).")  # fmt: skip
    add("--max-concurrency", type=int, help="Cap of in-flight requests at rate and sweep points.")
    add("--sweep", type=int, metavar="N",
        help="Synchronous, throughput, then N rates evenly between.")  # fmt: skip
    add("--warmup", type=int, default=2, help="Unmeasured requests per target first.")
    add("--max-duration", type=float, help="Seconds per point (then in-flight requests are "
        "cancelled and counted as client aborts).")  # fmt: skip
    add("--max-error-rate", type=float, help="Stop a point above this error share.")
    add("--request-timeout", type=float, default=300.0, help="Seconds one request may take.")
    add("--cancel-probe", type=int, default=0, metavar="CLIENTS", help="After the points, "
        "abandon CLIENTS streams mid-way and check the server's running count drops.")  # fmt: skip


def _output_args(o: argparse._ArgumentGroup) -> None:
    add = o.add_argument
    add("--slo", type=Slo.parse, help="Goodput bounds in ms, e.g. ttft=500,tpot=50.")
    add("--percentiles", type=csv_floats, default=[50.0, 90.0, 99.0],
        help="Percentiles to report.")  # fmt: skip
    add("--result-dir", help="Output folder (default: bench-results/<UTC time>).")
    add("--no-plots", action="store_true", help="Skip the PNG plots.")
    add("--no-per-request", action="store_true", help="Leave per-request lists out of result.json.")
    add("--no-progress", action="store_true", help="No progress bars.")


def _metrics_url(explicit: str | None, root: str) -> str | None:
    if explicit and explicit.lower() == "none":
        return None
    return explicit or f"{root}/metrics"


def build_targets(config: ServeConfig, model: str) -> list[Target]:
    """The target, and the compared server when one is given."""
    t, w = config.target, config.workload
    mode = w.cache_salt or ("request" if t.compare_base_url else "none")

    def target(url: str, name: str, metrics_url: str | None) -> Target:
        salt = f"bench-{name}-{w.seed}" if mode == "target" else mode
        endpoint = Endpoint(
            url,
            model,
            api=t.api,
            api_key=t.api_key,
            cache_salt=salt,
            timeout=config.load.request_timeout,
            temperature=w.temperature,
            ignore_eos=w.ignore_eos,
        )
        return Target(name, endpoint, _metrics_url(metrics_url, endpoint.root))

    targets = [target(t.base_url, t.name, t.metrics_url)]
    if t.compare_base_url:
        if t.compare_name == t.name:
            raise SystemExit("--name and --compare-name must differ")
        targets.append(target(t.compare_base_url, t.compare_name, t.compare_metrics_url))
    return targets


def load_shapes(load: LoadConfig) -> list[LoadShape]:
    """The points given by --concurrency and --request-rate (default: concurrency 1)."""
    shapes = [LoadShape(max_concurrency=c) for c in load.concurrency or []]
    shapes += [LoadShape(load.max_concurrency, r, load.burstiness) for r in load.request_rate or []]
    return shapes or [LoadShape(max_concurrency=1)]


async def _run(
    config: ServeConfig, targets: list[Target], requests: list[BenchRequest]
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    load, out = config.load, config.output
    options = RunOptions(
        limits=Limits(load.max_duration, load.max_error_rate),
        warmup=load.warmup,
        seed=config.workload.seed,
        slo=out.slo,
        percentiles=out.percentiles,
        rounds=config.target.compare_rounds,
        metrics_interval=config.target.metrics_interval,
        progress=not out.no_progress,
    )
    if load.sweep is not None:
        points = await run_sweep(
            targets,
            requests,
            load.sweep,
            options,
            max_concurrency=load.max_concurrency,
            burstiness=load.burstiness,
        )
    else:
        points = await run_shapes(targets, requests, load_shapes(load), options)
    probe_result = None
    first = targets[0]
    if load.cancel_probe > 0 and first.metrics_url:
        async with make_client() as client:
            probe_result = await probe.cancel_probe(
                client, first.endpoint, requests[0], first.metrics_url, clients=load.cancel_probe
            )
    return points, probe_result


def write_outputs(
    result: dict[str, Any], out_dir: Path, *, plot: bool, per_request: bool
) -> list[Path]:
    """result.json, summary.md and (unless disabled) the PNG plots; returns the paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / "result.json", out_dir / "summary.md"]
    report.write_json(paths[0], result, per_request=per_request)
    paths[1].write_text(report.markdown(result))
    if plot and result["points"]:
        points = result["points"]
        paths.append(plots.latency_vs_throughput(points, out_dir / "latency_vs_throughput.png"))
        paths.append(plots.ttft_cdf(points, out_dir / "ttft_cdf.png"))
    return paths


def main(argv: Sequence[str]) -> int:
    """`structserve bench serve`: run the load test; 1 when no request completed."""
    config = ServeConfig.parse(argv)
    model = config.target.model or resolve_model(config.target.base_url, config.target.api_key)
    targets = build_targets(config, model)
    requests, dataset = build_workload(config.workload, model)
    points, probe_result = asyncio.run(_run(config, targets, requests))
    seed = config.workload.seed
    result = {
        "provenance": report.provenance(argv, model=model, seed=seed, dataset=dataset),
        "points": points,
        "comparison": report.comparisons(points, [t.name for t in targets]),
        "cancel_probe": probe_result,
    }
    out = config.output
    out_dir = Path(out.result_dir or Path("bench-results") / utc_stamp())
    paths = write_outputs(
        result, out_dir, plot=not out.no_plots, per_request=not out.no_per_request
    )
    print(report.markdown(result))
    print("wrote " + ", ".join(str(p) for p in paths), file=sys.stderr)
    return 0 if any(p["completed"] for p in points) else 1
