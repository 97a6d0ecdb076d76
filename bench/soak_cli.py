"""`structserve bench soak`: a bounded mixed workload at a fraction of saturation, with memory
and file-descriptor growth checked against stated bounds (docs/reliability.md).

    structserve bench soak --base-url http://127.0.0.1:8000 --saturation auto --load 0.7 \\
        --duration 600 --workload synthetic:1,chat:2,json:1 --result-dir soak-out

Writes `soak.json` and `soak.md`; exits 1 when a bound is broken.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench import report
from bench.client import Endpoint
from bench.loadgen import LoadShape
from bench.options import (
    WorkloadConfig,
    add_workload_args,
    build_workload,
    resolve_model,
    utc_stamp,
)
from bench.proc_sampler import ProcSampler, pid_listening_on
from bench.records import BenchRequest
from bench.runner import RunOptions, Target, run_shapes
from bench.soak import SoakPlan, run_soak
from bench.soak_report import Bounds, markdown, soak_result
from compress.options import from_namespace
from compress.shared_data import shared_data_dir


def build_parser() -> argparse.ArgumentParser:
    """The `structserve bench soak` argument parser."""
    p = argparse.ArgumentParser(
        prog="structserve bench soak",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    t = p.add_argument_group("target")
    t.add_argument("--base-url", default="http://127.0.0.1:8000", help="Server root URL.")
    t.add_argument("--model", help="Model id (default: the first from GET /v1/models).")
    t.add_argument("--api-key", help="Bearer token.")
    t.add_argument(
        "--pid",
        type=int,
        action="append",
        help="Gateway pid (repeatable; default: whoever listens on --base-url's port); its "
        "descendants (a supervised engine) count as engine.",
    )
    t.add_argument(
        "--engine-pid", type=int, action="append", default=[], help="Attached engine pid(s)."
    )
    t.add_argument("--request-timeout", type=float, default=300.0, help="Seconds per request.")
    add_workload_args(p.add_argument_group("workload"), shared_data_dir())
    p.set_defaults(workload="synthetic:1,chat:2,json:1", num_prompts=256, output_len="64")
    lo = p.add_argument_group("load")
    lo.add_argument(
        "--saturation",
        default="auto",
        help="Saturation in req/s (e.g. from a `bench serve` sweep's throughput point), or "
        "`auto`: measure it first with a closed-loop point of this workload.",
    )
    lo.add_argument("--saturation-concurrency", type=int, default=16, help="auto: in flight.")
    lo.add_argument("--saturation-requests", type=int, default=48, help="auto: requests.")
    lo.add_argument("--load", type=float, default=0.7, help="Target fraction of saturation.")
    lo.add_argument("--rate", type=float, help="Request rate (overrides saturation x load).")
    lo.add_argument("--duration", type=float, default=600.0, help="Seconds of sending.")
    lo.add_argument("--stream-share", type=float, default=0.5, help="Share sent streaming.")
    lo.add_argument("--abort-share", type=float, default=0.05, help="Share abandoned mid-stream.")
    lo.add_argument("--max-concurrency", type=int, default=64, help="Harness cap in flight.")
    lo.add_argument("--sample-interval", type=float, default=5.0, help="Seconds between samples.")
    b = p.add_argument_group("bounds (fail above)")
    b.add_argument("--max-errors", type=int, default=Bounds.max_errors)
    b.add_argument("--max-gateway-rss-growth-mib", type=float, default=64.0)
    b.add_argument("--max-engine-rss-growth-mib", type=float, default=256.0)
    b.add_argument("--max-fd-growth", type=int, default=16)
    p.add_argument("--result-dir", help="Output folder (default: bench-results/soak-<UTC time>).")
    return p


@dataclass(frozen=True)
class SoakConfig:
    """All of `structserve bench soak`'s flags but the workload ones, parsed once (`--help`)."""

    base_url: str
    model: str | None
    api_key: str | None
    pid: list[int] | None
    engine_pid: list[int]
    request_timeout: float
    saturation: str
    saturation_concurrency: int
    saturation_requests: int
    load: float
    rate: float | None
    duration: float
    stream_share: float
    abort_share: float
    max_concurrency: int
    sample_interval: float
    max_errors: int
    max_gateway_rss_growth_mib: float
    max_engine_rss_growth_mib: float
    max_fd_growth: int
    result_dir: str | None

    def plan(self, rate: float, seed: int) -> SoakPlan:
        """The soak's schedule at `rate` requests/s."""
        return SoakPlan(
            rate,
            self.duration,
            self.stream_share,
            self.abort_share,
            max_concurrency=self.max_concurrency,
            sample_interval_s=self.sample_interval,
            seed=seed,
        )

    def bounds(self) -> Bounds:
        """The growth and error bounds the run must hold."""
        return Bounds(
            self.max_errors,
            self.max_gateway_rss_growth_mib,
            self.max_engine_rss_growth_mib,
            self.max_fd_growth,
        )


def measure_saturation(
    endpoint: Endpoint, requests: Sequence[BenchRequest], concurrency: int, n: int
) -> float:
    """Completed requests per second with `concurrency` streams of the workload in flight."""
    options = RunOptions(warmup=2, metrics_interval=0.0, progress=False)
    shape = LoadShape(max_concurrency=concurrency)
    point = asyncio.run(
        run_shapes([Target("saturation", endpoint)], requests[:n], [shape], options)
    )
    return float(point[0]["request_throughput"])


def _sampler(config: SoakConfig) -> ProcSampler | None:
    try:
        roots = config.pid or [pid_listening_on(config.base_url)]
    except LookupError as exc:
        logging.getLogger("structserve.soak").warning("%s: memory and fds not sampled", exc)
        return None
    return ProcSampler(roots, config.engine_pid)


def _rate(
    config: SoakConfig, chat: Endpoint, requests: Sequence[BenchRequest]
) -> tuple[float, float | None]:
    """(requests/s to send, the saturation it came from or None)."""
    saturation = None if config.saturation == "auto" else float(config.saturation)
    if saturation is None and config.rate is None:
        saturation = measure_saturation(
            chat, requests, config.saturation_concurrency, config.saturation_requests
        )
        print(f"saturation: {saturation:.3g} req/s", file=sys.stderr)
    return config.rate or config.load * float(saturation or 0.0), saturation


def main(argv: Sequence[str]) -> int:
    """Entry point: plan, run, report; 0 when every bound holds."""
    args = build_parser().parse_args(list(argv))
    config, workload = from_namespace(SoakConfig, args), from_namespace(WorkloadConfig, args)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    model = config.model or resolve_model(config.base_url, config.api_key)
    requests, dataset = build_workload(workload, model)
    endpoints = {
        api: Endpoint(
            config.base_url,
            model,
            api=api,
            api_key=config.api_key,
            timeout=config.request_timeout,
            temperature=workload.temperature,
            ignore_eos=workload.ignore_eos,
        )
        for api in ("chat", "completions")
    }
    rate, saturation = _rate(config, endpoints["chat"], requests)
    if rate <= 0:
        print(
            "structserve bench soak: no request rate (give --rate or --saturation)", file=sys.stderr
        )
        return 2
    plan = config.plan(rate, workload.seed)
    sampler = _sampler(config)
    run = asyncio.run(run_soak(endpoints, requests, plan, sampler))
    provenance = report.provenance(argv, model=model, seed=workload.seed, dataset=dataset)
    samples = sampler.samples if sampler is not None else []
    result = soak_result(
        run, plan, samples, config.bounds(), saturation_rps=saturation, provenance=provenance
    )
    out = Path(config.result_dir or Path("bench-results") / f"soak-{utc_stamp()}")
    out.mkdir(parents=True, exist_ok=True)
    (out / "soak.json").write_text(json.dumps(result, indent=2))
    (out / "soak.md").write_text(markdown(result))
    print(markdown(result))
    print(f"wrote {out / 'soak.json'}, {out / 'soak.md'}", file=sys.stderr)
    return 0 if result["passed"] else 1
