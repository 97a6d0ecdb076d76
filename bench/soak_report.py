"""A soak's verdict: counts, latency, memory and fd growth checked against stated bounds."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

from bench.latency import distribution
from bench.proc_sampler import ProcSample, growth
from bench.soak import SoakPlan, SoakRun

MIB = 2**20


@dataclass(frozen=True)
class Bounds:
    """What a soak may show and still pass.

    Attributes:
        max_errors: failed requests (anything but success or an intended client abort).
        gateway_rss_growth_mib: growth of the gateway's RSS from the settled start to the end.
        engine_rss_growth_mib: the same for the engine's processes.
        fd_growth: growth of open file descriptors, gateway and engine each.
    """

    max_errors: int = 0
    gateway_rss_growth_mib: float = 64.0
    engine_rss_growth_mib: float = 256.0
    fd_growth: int = 16


def _counts(run: SoakRun) -> dict[str, Any]:
    by_mode = Counter(r.mode.value for r in run.records)
    by_api = Counter(r.api for r in run.records)
    by_workload = Counter(r.record.workload for r in run.records)
    failures = Counter(
        "unfinished" if r.unfinished else str(r.record.error) for r in run.records if r.failed
    )
    ok = [r for r in run.records if r.record.success]
    json_checked = [r for r in ok if r.record.schema_valid is not None]
    return {
        "sent": len(run.records),
        "completed": len(ok),
        "aborted_by_client": sum(1 for r in run.records if not r.failed and not r.record.success),
        "errors": sum(failures.values()),
        "errors_by_kind": dict(failures),
        "by_mode": dict(by_mode),
        "by_api": dict(by_api),
        "by_workload": dict(by_workload),
        "schema_valid": f"{sum(bool(r.record.schema_valid) for r in json_checked)}"
        f"/{len(json_checked)}",
        "output_tokens": sum(r.record.output_tokens for r in ok),
        "error_examples": sorted(
            Counter(
                f"{r.mode.value} {r.api} {r.record.workload}: {r.record.error_detail[:160]}"
                for r in run.records
                if r.failed
            ).items(),
            key=lambda item: -item[1],
        )[:10],
        "capped_by_harness": run.capped,
    }


def _checks(counts: dict[str, Any], grown: dict[str, Any], bounds: Bounds) -> dict[str, Any]:
    def check(value: float, bound: float) -> dict[str, Any]:
        return {"value": value, "bound": bound, "ok": value <= bound}

    if not grown:
        return {"errors": check(counts["errors"], bounds.max_errors)}
    return {
        "errors": check(counts["errors"], bounds.max_errors),
        "gateway_rss_growth_mib": check(
            grown["gateway_rss"]["growth"] / MIB, bounds.gateway_rss_growth_mib
        ),
        "engine_rss_growth_mib": check(
            grown["engine_rss"]["growth"] / MIB, bounds.engine_rss_growth_mib
        ),
        "gateway_fd_growth": check(grown["gateway_fds"]["growth"], bounds.fd_growth),
        "engine_fd_growth": check(grown["engine_fds"]["growth"], bounds.fd_growth),
    }


def soak_result(
    run: SoakRun,
    plan: SoakPlan,
    samples: list[ProcSample],
    bounds: Bounds,
    *,
    saturation_rps: float | None = None,
    provenance: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The JSON result: plan, counts, latency, process samples, growth, checks and verdict."""
    counts = _counts(run)
    grown = growth(samples)
    checks = _checks(counts, grown, bounds)
    ok = [r.record for r in run.records if r.record.success]
    return {
        "provenance": provenance or {},
        "plan": asdict(plan),
        "saturation_rps": saturation_rps,
        "load_fraction": plan.rate / saturation_rps if saturation_rps else None,
        "achieved_rps": counts["sent"] / run.wall_s if run.wall_s else 0.0,
        "wall_s": run.wall_s,
        "counts": counts,
        "latency_ms": {
            "e2e": distribution([r.latency for r in ok]),
            "ttft_stream": distribution([t for r in ok if (t := r.ttft) is not None]),
        },
        "bounds": asdict(bounds),
        "growth": grown,
        "checks": checks,
        "passed": all(c["ok"] for c in checks.values()),
        "samples": [asdict(s) for s in samples],
    }


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def markdown(result: dict[str, Any]) -> str:
    """A short human summary of `soak_result`'s output."""
    plan, counts = result["plan"], result["counts"]
    fraction = result["load_fraction"]
    load = (
        f" ({fraction:.0%} of saturation {result['saturation_rps']:.3g} req/s)" if fraction else ""
    )
    lines = [
        f"# Soak: {'PASSED' if result['passed'] else 'FAILED'}",
        "",
        f"{plan['duration_s']:.0f} s at {plan['rate']:.3g} req/s{load}; achieved "
        f"{result['achieved_rps']:.3g} req/s, wall {result['wall_s']:.0f} s.",
        f"Sent {counts['sent']}: completed {counts['completed']}, aborted by the client "
        f"{counts['aborted_by_client']}, errors {counts['errors']} {counts['errors_by_kind']}.",
        f"Modes {counts['by_mode']}; APIs {counts['by_api']}; workloads {counts['by_workload']}; "
        f"JSON outputs valid {counts['schema_valid']}; {counts['output_tokens']} output tokens.",
        *(f"- {n} x {example}" for example, n in counts["error_examples"]),
        "",
        "| check | value | bound | ok |",
        "|---|---|---|---|",
    ]
    for name, check in result["checks"].items():
        lines.append(f"| {name} | {check['value']:.1f} | {check['bound']:g} | {check['ok']} |")
    if result["growth"]:
        lines += ["", "| process | start | end | max |", "|---|---|---|---|"]
        for name, g in result["growth"].items():
            scale = MIB if name.endswith("rss") else 1
            unit = " MiB" if scale == MIB else ""
            lines.append(
                f"| {name} | {g['start'] / scale:.0f}{unit} | {g['end'] / scale:.0f}{unit} "
                f"| {g['max'] / scale:.0f}{unit} |"
            )
    e2e, ttft = result["latency_ms"]["e2e"], result["latency_ms"]["ttft_stream"]
    lines += [
        "",
        f"Latency of completed requests: e2e p50 {_fmt(e2e['p50'])} ms, p99 {_fmt(e2e['p99'])} "
        f"ms; streamed TTFT p50 {_fmt(ttft['p50'])} ms, p99 {_fmt(ttft['p99'])} ms.",
    ]
    return "\n".join(lines) + "\n"
