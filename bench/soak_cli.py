"""`structserve bench soak`: a bounded mixed workload at a fraction of saturation, with memory
and file-descriptor growth checked against stated bounds (docs/reliability.md).

    structserve bench soak --base-url http://127.0.0.1:8000 --saturation auto --load 0.7 \\
        --duration 600 --workload synthetic:1,chat:2,json:1 --result-dir soak-out

Writes `soak.json` and `soak.md`; exits 1 when a bound is broken.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from bench import report
from bench.cli import _workload_args, build_workload, resolve_model, shared_data_dir
from bench.client import Endpoint
from bench.loadgen import LoadShape
from bench.proc_sampler import ProcSampler, pid_listening_on
from bench.runner import RunOptions, Target, run_shapes
from bench.soak import SoakPlan, run_soak
from bench.soak_report import Bounds, markdown, soak_result
from bench.workloads import BenchRequest


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
    _workload_args(p.add_argument_group("workload"), shared_data_dir())
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


def _sampler(args: argparse.Namespace) -> ProcSampler | None:
    try:
        roots = args.pid or [pid_listening_on(args.base_url)]
    except LookupError as exc:
        logging.getLogger("structserve.soak").warning("%s: memory and fds not sampled", exc)
        return None
    return ProcSampler(roots, args.engine_pid)


def main(argv: Sequence[str]) -> int:
    """Entry point: plan, run, report; 0 when every bound holds."""
    args = build_parser().parse_args(list(argv))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    model = args.model or resolve_model(args.base_url, args.api_key)
    requests, dataset = build_workload(args, model)
    endpoints = {
        api: Endpoint(
            args.base_url,
            model,
            api=api,
            api_key=args.api_key,
            timeout=args.request_timeout,
            temperature=args.temperature,
            ignore_eos=args.ignore_eos,
        )
        for api in ("chat", "completions")
    }
    saturation = None if args.saturation == "auto" else float(args.saturation)
    if saturation is None and args.rate is None:
        saturation = measure_saturation(
            endpoints["chat"], requests, args.saturation_concurrency, args.saturation_requests
        )
        print(f"saturation: {saturation:.3g} req/s", file=sys.stderr)
    rate = args.rate or args.load * float(saturation or 0.0)
    if rate <= 0:
        print(
            "structserve bench soak: no request rate (give --rate or --saturation)", file=sys.stderr
        )
        return 2
    plan = SoakPlan(
        rate=rate,
        duration_s=args.duration,
        stream_share=args.stream_share,
        abort_share=args.abort_share,
        max_concurrency=args.max_concurrency,
        sample_interval_s=args.sample_interval,
        seed=args.seed,
    )
    sampler = _sampler(args)
    run = asyncio.run(run_soak(endpoints, requests, plan, sampler))
    bounds = Bounds(
        args.max_errors,
        args.max_gateway_rss_growth_mib,
        args.max_engine_rss_growth_mib,
        args.max_fd_growth,
    )
    provenance = report.provenance(argv, model=model, seed=args.seed, dataset=dataset)
    samples = sampler.samples if sampler is not None else []
    result = soak_result(
        run, plan, samples, bounds, saturation_rps=saturation, provenance=provenance
    )
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    out = Path(args.result_dir or Path("bench-results") / f"soak-{stamp}")
    out.mkdir(parents=True, exist_ok=True)
    (out / "soak.json").write_text(json.dumps(result, indent=2))
    (out / "soak.md").write_text(markdown(result))
    print(markdown(result))
    print(f"wrote {out / 'soak.json'}, {out / 'soak.md'}", file=sys.stderr)
    return 0 if result["passed"] else 1
