"""`structserve bench`: load testing (`serve`) and the JSON-schema benchmark (`jsonschemabench`).

`structserve bench serve` drives any OpenAI-compatible endpoint with streaming requests and
writes `result.json` (keys as `vllm bench serve` names them), `summary.md` and PNG plots.
Examples:

    structserve bench serve --base-url http://127.0.0.1:8000 --concurrency 1,16 --num-prompts 64
    structserve bench serve --sweep 4 --workload chat:3,json:1 --slo ttft=1000,tpot=100
    structserve bench serve --base-url http://127.0.0.1:8000 --name gateway \\
        --compare-base-url http://127.0.0.1:8100 --compare-name engine --concurrency 1,16
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import importlib
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx

from bench import cancel_probe as probe
from bench import plots, report
from bench.client import Endpoint
from bench.loadgen import Limits, LoadShape
from bench.metrics import Slo
from bench.runner import RunOptions, Target, make_client, run_shapes, run_sweep
from bench.tokens import TokenCounter
from bench.workloads import (
    BenchRequest,
    LengthDist,
    WorkloadSources,
    build_requests,
    file_sha256,
    requests_sha256,
)

# subcommand -> (module, help); each module exposes `main(argv: list[str]) -> int`.
DELEGATED: dict[str, tuple[str, str]] = {
    "jsonschemabench": ("bench.jsonschemabench", "Structured-output benchmark on JSONSchemaBench."),
    "soak": ("bench.soak_cli", "Long mixed-workload run; checks errors, memory and fd growth."),
}


def shared_data_dir() -> Path:
    """`$STRUCTSERVE_SHARED_DATA`, else `shared/data` beside the repository."""
    env = os.environ.get("STRUCTSERVE_SHARED_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data"


def _csv_floats(text: str) -> list[float]:
    return [float(x) for x in text.split(",") if x.strip()]


def csv_ints(text: str) -> list[int]:
    """`1,16` -> [1, 16] (an argparse `type`)."""
    return [int(x) for x in text.split(",") if x.strip()]


def build_parser() -> argparse.ArgumentParser:
    """The `structserve bench serve` argument parser."""
    p = argparse.ArgumentParser(
        prog="structserve bench serve",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _target_args(p.add_argument_group("target"))
    _workload_args(p.add_argument_group("workload"), shared_data_dir())
    _load_args(p.add_argument_group("load"))
    _output_args(p.add_argument_group("output"))
    return p


def _target_args(t: argparse._ArgumentGroup) -> None:
    t.add_argument("--base-url", default="http://127.0.0.1:8000", help="Server root URL.")
    t.add_argument("--name", default="target", help="Label of --base-url in reports.")
    t.add_argument(
        "--compare-base-url",
        help="A second server run on the same workload in "
        "alternating rounds; ratios are --name / --compare-name.",
    )
    t.add_argument("--compare-name", default="base", help="Label of --compare-base-url.")
    t.add_argument(
        "--compare-rounds",
        type=int,
        help="Rounds per point when comparing (A B, B A, ...; default: one round per "
        "--concurrency requests, so at concurrency 1 the targets alternate every request).",
    )
    t.add_argument("--model", help="Model id (default: the first from GET /v1/models).")
    t.add_argument(
        "--api",
        choices=("chat", "completions"),
        default="chat",
        help="Endpoint: /v1/chat/completions or /v1/completions.",
    )
    t.add_argument(
        "--api-key",
        default=os.environ.get("OPENAI_API_KEY"),
        help="Bearer token (default: $OPENAI_API_KEY).",
    )
    t.add_argument(
        "--metrics-url",
        help="Prometheus URL of the target (default: ROOT/metrics; 'none' to skip).",
    )
    t.add_argument("--compare-metrics-url", help="Prometheus URL of the compared server.")
    t.add_argument(
        "--metrics-interval",
        type=float,
        default=1.0,
        help="Seconds between /metrics samples during a point (0: ends only).",
    )


def _workload_args(w: argparse._ArgumentGroup, data: Path) -> None:
    w.add_argument(
        "--workload",
        default="synthetic",
        help="Mixture of synthetic, chat, json with weights, e.g. chat:3,json:1.",
    )
    w.add_argument("--num-prompts", type=int, default=64, help="Requests per point.")
    w.add_argument(
        "--input-len",
        default="128",
        help="Prompt tokens: N, uniform:LO:HI, "
        "normal:MU:SD or lognormal:MEDIAN:SIGMA (chat: passages truncated to it).",
    )
    w.add_argument("--output-len", default="64", help="max_tokens distribution (same forms).")
    w.add_argument(
        "--ignore-eos",
        action="store_true",
        help="Send ignore_eos so every answer runs to max_tokens (vLLM servers).",
    )
    w.add_argument("--temperature", type=float, default=0.0, help="Sampling temperature.")
    w.add_argument(
        "--cache-salt",
        choices=("none", "request", "target"),
        help="Send vLLM's cache_salt: a fresh one per request (no prefix-cache hits between "
        "requests, points or targets), or one per target. Default: request when comparing two "
        "targets (they may share an engine's cache), else none.",
    )
    w.add_argument("--json-max-tokens", type=int, default=256, help="Budget of JSON requests.")
    w.add_argument(
        "--json-subsets",
        default="Glaiveai2K,Github_easy,Github_trivial",
        help="JSONSchemaBench subsets for the json workload.",
    )
    w.add_argument(
        "--json-max-schema-chars",
        type=int,
        default=2000,
        help="Skip larger schemas (huge ones stall the engine for minutes).",
    )
    w.add_argument(
        "--corpus",
        default=str(data / "wikitext2" / "wiki.valid.raw"),
        help="Plain-text corpus for synthetic and chat prompts.",
    )
    w.add_argument(
        "--jsonschema-archive",
        default=str(data / "jsonschemabench-dev.tgz"),
        help="JSONSchemaBench archive (.tgz), unpacked into a cache at run time.",
    )
    w.add_argument(
        "--tokenizer",
        help="tokenizer.json (default: the model's, from the "
        "structserve model cache; else ~4 characters a token).",
    )
    w.add_argument("--seed", type=int, default=0, help="Seed of the workload and arrivals.")


def _load_args(lo: argparse._ArgumentGroup) -> None:
    lo.add_argument(
        "--concurrency", type=csv_ints, help="Closed-loop points: requests in flight, e.g. 1,16."
    )
    lo.add_argument(
        "--request-rate",
        type=_csv_floats,
        help="Open-loop points: requests/s, e.g. 1,2,4 (inf: all at once).",
    )
    lo.add_argument(
        "--burstiness",
        type=float,
        default=1.0,
        help="Gamma shape of inter-arrival times (1: Poisson, <1: burstier).",
    )
    lo.add_argument(
        "--max-concurrency", type=int, help="Cap of in-flight requests at rate and sweep points."
    )
    lo.add_argument(
        "--sweep",
        type=int,
        metavar="N",
        help="Synchronous, throughput, then N rates evenly between.",
    )
    lo.add_argument("--warmup", type=int, default=2, help="Unmeasured requests per target first.")
    lo.add_argument(
        "--max-duration",
        type=float,
        help="Seconds per point (then in-flight "
        "requests are cancelled and counted as client aborts).",
    )
    lo.add_argument("--max-error-rate", type=float, help="Stop a point above this error share.")
    lo.add_argument(
        "--request-timeout", type=float, default=300.0, help="Seconds one request may take."
    )
    lo.add_argument(
        "--cancel-probe",
        type=int,
        default=0,
        metavar="CLIENTS",
        help="After the points, abandon CLIENTS streams mid-way and check the "
        "server's running count drops.",
    )


def _output_args(o: argparse._ArgumentGroup) -> None:
    o.add_argument("--slo", type=Slo.parse, help="Goodput bounds in ms, e.g. ttft=500,tpot=50.")
    o.add_argument(
        "--percentiles", type=_csv_floats, default=[50.0, 90.0, 99.0], help="Percentiles to report."
    )
    o.add_argument("--result-dir", help="Output folder (default: bench-results/<UTC time>).")
    o.add_argument("--no-plots", action="store_true", help="Skip the PNG plots.")
    o.add_argument(
        "--no-per-request", action="store_true", help="Leave per-request lists out of result.json."
    )
    o.add_argument("--no-progress", action="store_true", help="No progress bars.")


def _metrics_url(explicit: str | None, root: str) -> str | None:
    if explicit and explicit.lower() == "none":
        return None
    return explicit or f"{root}/metrics"


def resolve_model(base_url: str, api_key: str | None) -> str:
    """The first model id the server lists at `/v1/models`."""
    root = Endpoint(base_url, "").root
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    response = httpx.get(f"{root}/v1/models", headers=headers, timeout=30.0, trust_env=False)
    response.raise_for_status()
    models = response.json().get("data") or []
    if not models:
        raise SystemExit(f"{root}/v1/models lists no model; pass --model")
    model: str = models[0]["id"]
    return model


def build_targets(args: argparse.Namespace, model: str) -> list[Target]:
    """The target, and the compared server when one is given."""

    mode = args.cache_salt or ("request" if args.compare_base_url else "none")

    def endpoint(url: str, name: str) -> Endpoint:
        return Endpoint(
            url,
            model,
            api=args.api,
            api_key=args.api_key,
            timeout=args.request_timeout,
            temperature=args.temperature,
            ignore_eos=args.ignore_eos,
            cache_salt=f"bench-{name}-{args.seed}" if mode == "target" else mode,
        )

    main = endpoint(args.base_url, args.name)
    targets = [Target(args.name, main, _metrics_url(args.metrics_url, main.root))]
    if args.compare_base_url:
        other = endpoint(args.compare_base_url, args.compare_name)
        if args.compare_name == args.name:
            raise SystemExit("--name and --compare-name must differ")
        targets.append(
            Target(args.compare_name, other, _metrics_url(args.compare_metrics_url, other.root))
        )
    return targets


def build_workload(args: argparse.Namespace, model: str) -> tuple[list[BenchRequest], dict]:
    """The requests and the dataset provenance (spec, hashes, tokenizer)."""
    tokens = TokenCounter.load(model, args.tokenizer)
    sources = WorkloadSources(
        tokens=tokens,
        corpus=Path(args.corpus),
        json_archive=Path(args.jsonschema_archive),
        json_subsets=[s for s in args.json_subsets.split(",") if s],
        json_max_schema_chars=args.json_max_schema_chars,
        input_len=LengthDist.parse(args.input_len),
        output_len=LengthDist.parse(args.output_len),
        json_max_tokens=args.json_max_tokens,
    )
    requests = build_requests(args.workload, args.num_prompts, sources, seed=args.seed)
    files = {}
    for path in {Path(args.corpus), Path(args.jsonschema_archive)}:
        if path.is_file():
            files[str(path)] = file_sha256(path)
    dataset = {
        "spec": args.workload,
        "num_prompts": len(requests),
        "requests_sha256": requests_sha256(requests),
        "source_sha256": files,
        "tokenizer": tokens.source,
        "input_len": args.input_len,
        "output_len": args.output_len,
    }
    return requests, dataset


def load_shapes(args: argparse.Namespace) -> list[LoadShape]:
    """The points given by --concurrency and --request-rate (default: concurrency 1)."""
    shapes = [LoadShape(max_concurrency=c) for c in args.concurrency or []]
    shapes += [LoadShape(args.max_concurrency, r, args.burstiness) for r in args.request_rate or []]
    return shapes or [LoadShape(max_concurrency=1)]


async def _run(
    args: argparse.Namespace, targets: list[Target], requests: list[BenchRequest]
) -> tuple[list[dict], dict | None]:
    options = RunOptions(
        limits=Limits(args.max_duration, args.max_error_rate),
        warmup=args.warmup,
        seed=args.seed,
        slo=args.slo,
        percentiles=args.percentiles,
        rounds=args.compare_rounds,
        metrics_interval=args.metrics_interval,
        progress=not args.no_progress,
    )
    if args.sweep is not None:
        points = await run_sweep(
            targets,
            requests,
            args.sweep,
            options,
            max_concurrency=args.max_concurrency,
            burstiness=args.burstiness,
        )
    else:
        points = await run_shapes(targets, requests, load_shapes(args), options)
    probe_result = None
    if args.cancel_probe > 0 and targets[0].metrics_url:
        async with make_client() as client:
            probe_result = await probe.cancel_probe(
                client,
                targets[0].endpoint,
                requests[0],
                targets[0].metrics_url,
                clients=args.cancel_probe,
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
        paths.append(
            plots.latency_vs_throughput(result["points"], out_dir / "latency_vs_throughput.png")
        )
        paths.append(plots.ttft_cdf(result["points"], out_dir / "ttft_cdf.png"))
    return paths


def serve_main(argv: Sequence[str]) -> int:
    """`structserve bench serve`: run the load test; 1 when no request completed."""
    args = build_parser().parse_args(list(argv))
    model = args.model or resolve_model(args.base_url, args.api_key)
    targets = build_targets(args, model)
    requests, dataset = build_workload(args, model)
    points, probe_result = asyncio.run(_run(args, targets, requests))
    result = {
        "provenance": report.provenance(argv, model=model, seed=args.seed, dataset=dataset),
        "points": points,
        "comparison": report.comparisons(points, [t.name for t in targets]),
        "cancel_probe": probe_result,
    }
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    out_dir = Path(args.result_dir or Path("bench-results") / stamp)
    paths = write_outputs(
        result, out_dir, plot=not args.no_plots, per_request=not args.no_per_request
    )
    print(report.markdown(result))
    print("wrote " + ", ".join(str(p) for p in paths), file=sys.stderr)
    return 0 if any(p["completed"] for p in points) else 1


def _delegate(name: str) -> Callable[[list[str]], int] | None:
    module_name = DELEGATED[name][0]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            return None
        raise
    entry: Callable[[list[str]], int] = module.main
    return entry


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `structserve bench`: dispatch to `serve` or a delegated benchmark."""
    args = list(sys.argv[1:] if argv is None else argv)
    commands = {
        "serve": "Load-test an OpenAI-compatible server.",
        **{k: v[1] for k, v in DELEGATED.items()},
    }
    if not args or args[0] not in commands:
        parser = argparse.ArgumentParser(
            prog="structserve bench",
            description=__doc__,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        sub = parser.add_subparsers(dest="command", metavar="COMMAND")
        for name, help_text in commands.items():
            sub.add_parser(name, help=help_text, add_help=False)
        if not args:
            parser.print_help()
            return 2
        parser.parse_args(args[:1])
        return 0
    if args[0] == "serve":
        return serve_main(args[1:])
    entry = _delegate(args[0])
    if entry is None:
        print(f"structserve bench {args[0]}: not available in this build", file=sys.stderr)
        return 2
    return entry(args[1:])


if __name__ == "__main__":
    sys.exit(main())
