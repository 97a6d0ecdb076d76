"""Summary statistics of one benchmark point, from its request timelines.

Key names follow `vllm bench serve`'s JSON (`mean_ttft_ms`, `p99_itl_ms`, `output_throughput`,
`request_goodput`, ...) so results compare directly. Percentiles are numpy's default (linear
interpolation), as there. Differences from vLLM: a request's end-to-end latency runs to the end of
the response, not to its last token; TPOT runs from the first to the last output chunk; an empty
list gives `null`, not 0; failed requests are split by kind.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from bench.records import ErrorKind, RequestRecord

PERCENTILES: tuple[float, ...] = (50.0, 90.0, 99.0)
SLO_METRICS: tuple[str, ...] = ("ttft", "tpot", "e2el")


@dataclass(frozen=True)
class Slo:
    """Service-level objective in milliseconds; a request is good when it meets every bound set."""

    ttft_ms: float | None = None
    tpot_ms: float | None = None
    e2el_ms: float | None = None

    @classmethod
    def parse(cls, text: str) -> Slo:
        """Parse `ttft=500,tpot=50` (milliseconds; a value may end in `ms` or `s`).

        Args:
            text: comma-separated `metric=value` pairs, metric one of ttft, tpot, e2el.

        Returns:
            The SLO.

        Raises:
            ValueError: on an unknown metric or a value that is not a positive number.
        """
        bounds: dict[str, float] = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            name, sep, raw = part.partition("=")
            name = name.strip().lower()
            if not sep or name not in SLO_METRICS:
                raise ValueError(f"SLO term {part!r}: expected one of {SLO_METRICS} as name=ms")
            raw = raw.strip().lower()
            scale = 1.0
            if raw.endswith("ms"):
                raw = raw[:-2]
            elif raw.endswith("s"):
                raw, scale = raw[:-1], 1000.0
            value = float(raw) * scale
            if not value > 0 or math.isinf(value):
                raise ValueError(f"SLO term {part!r}: value must be a positive number")
            bounds[f"{name}_ms"] = value
        return cls(**bounds)

    def as_dict(self) -> dict[str, float]:
        """The bounds that are set, keyed like vLLM's `--goodput` (ttft, tpot, e2el; ms)."""
        items = {"ttft": self.ttft_ms, "tpot": self.tpot_ms, "e2el": self.e2el_ms}
        return {k: v for k, v in items.items() if v is not None}

    def is_met(self, record: RequestRecord) -> bool:
        """Whether a completed request meets every bound (TPOT of a 1-token answer counts as 0)."""
        if not record.success:
            return False
        ttft = record.ttft if record.ttft is not None else record.latency
        observed = {"ttft": ttft, "tpot": record.tpot or 0.0, "e2el": record.latency}
        return all(observed[k] * 1000.0 <= bound for k, bound in self.as_dict().items())


def distribution(values: Sequence[float], percentiles: Sequence[float] = PERCENTILES) -> dict:
    """Mean, median, std, max and percentiles of values given in seconds, in milliseconds.

    Args:
        values: samples in seconds.
        percentiles: which percentiles to report (keys `p50`, `p99.9`, ...).

    Returns:
        `{"mean": .., "median": .., "std": .., "max": .., "p50": .., ...}` in ms; every value is
        None when there are no samples.
    """
    keys = ["mean", "median", "std", "max", *(f"p{_pct_name(p)}" for p in percentiles)]
    if len(values) == 0:
        return dict.fromkeys(keys)
    arr = np.asarray(values, dtype=float) * 1000.0
    out = {
        "mean": float(arr.mean()),
        "median": float(np.median(arr)),
        "std": float(arr.std()),
        "max": float(arr.max()),
    }
    for p in percentiles:
        out[f"p{_pct_name(p)}"] = float(np.percentile(arr, p))
    return out


def _pct_name(p: float) -> str:
    return str(int(p)) if float(p).is_integer() else str(p)


def latency_samples(records: Sequence[RequestRecord]) -> dict[str, list[float]]:
    """Per-metric samples in seconds from the successful requests (ITL pools every gap)."""
    ok = [r for r in records if r.success]
    return {
        "ttft": [r.ttft for r in ok if r.ttft is not None],
        "tpot": [t for r in ok if (t := r.tpot) is not None],
        "itl": [gap for r in ok for gap in r.itls],
        "e2el": [r.latency for r in ok],
    }


def error_counts(records: Sequence[RequestRecord]) -> dict[str, int]:
    """Number of requests per error kind (every kind present, zeros included)."""
    counts = Counter(r.error for r in records if r.error is not None)
    return {kind.value: counts.get(kind, 0) for kind in ErrorKind}


def peak_rates(records: Sequence[RequestRecord]) -> tuple[float, int]:
    """Most output chunks in any one-second bucket, and most requests in flight at once."""
    ok = [r for r in records if r.success]
    if not ok:
        return 0.0, 0
    t0 = min(r.start for r in records)
    buckets = Counter(int(t - t0) for r in ok for t in r.chunk_times)
    events = sorted([(r.start, 1) for r in records] + [(r.end, -1) for r in records])
    in_flight = peak = 0
    for _, step in events:
        in_flight += step
        peak = max(peak, in_flight)
    return float(max(buckets.values(), default=0)), peak


def summarize(
    records: Sequence[RequestRecord],
    duration: float,
    *,
    slo: Slo | None = None,
    percentiles: Sequence[float] = PERCENTILES,
) -> dict[str, Any]:
    """Summarize one benchmark point.

    Args:
        records: every measured request of the point (warm-up excluded).
        duration: wall seconds of the point, from the first send to the last response.
        slo: bounds for goodput; None leaves `request_goodput` null.
        percentiles: which percentiles to report.

    Returns:
        A flat dict with vLLM's key names plus `errors_by_kind`, `aborted`, `schema_*` and
        per-request lists (`input_lens`, `output_lens`, `ttfts`, `itls`, `latencies`, `errors`).
    """
    ok = [r for r in records if r.success]
    aborted = sum(r.error is ErrorKind.CLIENT_ABORT for r in records)
    total_in = sum(r.prompt_tokens for r in ok)
    total_out = sum(r.output_tokens for r in ok)
    per_s = 1.0 / duration if duration > 0 else 0.0
    result: dict[str, Any] = {
        "duration": duration,
        "completed": len(ok),
        "failed": len(records) - len(ok) - aborted,
        "aborted": aborted,
        "total_input_tokens": total_in,
        "total_output_tokens": total_out,
        "request_throughput": len(ok) * per_s,
        "request_goodput": (sum(slo.is_met(r) for r in ok) * per_s) if slo else None,
        "output_throughput": total_out * per_s,
        "total_token_throughput": (total_in + total_out) * per_s,
        "errors_by_kind": error_counts(records),
    }
    max_tok_s, max_conc = peak_rates(records)
    result["max_output_tokens_per_s"] = max_tok_s
    result["max_concurrent_requests"] = max_conc
    for name, samples in latency_samples(records).items():
        for stat, value in distribution(samples, percentiles).items():
            result[f"{stat}_{name}_ms"] = value
    result.update(schema_validity(records))
    result.update(per_request_lists(records))
    return result


def schema_validity(records: Sequence[RequestRecord]) -> dict[str, Any]:
    """Share of completed schema-constrained requests whose output validated.

    Requests whose schema could not be used for validation are not counted; invalid outputs cut
    off by `max_tokens` (finish reason "length") are also counted as `schema_truncated`.
    """
    done = [r for r in records if r.success and r.schema_valid is not None]
    valid = sum(bool(r.schema_valid) for r in done)
    return {
        "schema_checked": len(done),
        "schema_valid": valid,
        "schema_validity_rate": (valid / len(done)) if done else None,
        # invalid because the output budget ran out, not because the schema was broken
        "schema_truncated": sum(not r.schema_valid and r.finish_reason == "length" for r in done),
    }


def per_request_lists(records: Sequence[RequestRecord]) -> dict[str, list[Any]]:
    """Per-request arrays named as in vLLM's detailed results (times in seconds)."""
    return {
        "input_lens": [r.prompt_tokens for r in records],
        "output_lens": [r.output_tokens if r.success else 0 for r in records],
        "ttfts": [r.ttft if r.success else None for r in records],
        "itls": [r.itls if r.success else [] for r in records],
        "latencies": [r.latency for r in records],
        "workloads": [r.workload for r in records],
        "errors": [_error_text(r) for r in records],
    }


def _error_text(record: RequestRecord) -> str:
    if record.error is None:
        return ""
    return f"{record.error.value}: {record.error_detail}".strip()


def ratios(
    point: Mapping[str, Any], base: Mapping[str, Any], keys: Sequence[str]
) -> dict[str, float | None]:
    """`point[k] / base[k]` for each key (None when either is missing or the base is 0)."""
    out: dict[str, float | None] = {}
    for key in keys:
        a, b = point.get(key), base.get(key)
        numeric = isinstance(a, int | float) and isinstance(b, int | float)
        out[key] = (a / b) if numeric and b else None
    return out
