"""Metric computations on synthetic request timelines with known answers."""

from __future__ import annotations

import math

import pytest

from bench.latency import Slo, distribution, peak_rates, ratios, summarize
from bench.records import ErrorKind, RequestRecord
from bench.server_metrics import parse_metrics, spec_decode_stats


def rec(
    start: float, chunks: list[float], end: float, tokens: int | None = None, **kw: object
) -> RequestRecord:
    """A successful record with chunk arrival times (absolute seconds)."""
    r = RequestRecord("synthetic", start, list(chunks), end, 10, tokens or len(chunks))
    for k, v in kw.items():
        setattr(r, k, v)
    return r


def test_single_timeline_ttft_itl_tpot_latency() -> None:
    r = rec(1.0, [1.1, 1.15, 1.2, 1.3], 1.31)
    assert r.ttft == pytest.approx(0.1)
    assert r.itls == pytest.approx([0.05, 0.05, 0.1])
    assert r.tpot == pytest.approx(0.2 / 3)
    assert r.latency == pytest.approx(0.31)


def test_tpot_counts_tokens_not_chunks() -> None:
    # Speculative decoding: 3 chunks carrying 7 tokens; TPOT spreads the span over 6 tokens.
    r = rec(0.0, [0.5, 0.6, 0.8], 0.8, tokens=7)
    assert r.tpot == pytest.approx(0.3 / 6)
    assert rec(0.0, [0.5], 0.5).tpot is None


def test_summary_percentiles_and_throughput() -> None:
    records = [rec(0.0, [t, t + 0.1], t + 0.1) for t in (0.1, 0.2, 0.3, 0.4)]
    s = summarize(records, duration=2.0)
    assert s["completed"] == 4 and s["failed"] == 0
    assert s["mean_ttft_ms"] == pytest.approx(250.0)
    assert s["median_ttft_ms"] == pytest.approx(250.0)
    assert s["p50_ttft_ms"] == pytest.approx(250.0)
    assert s["p90_ttft_ms"] == pytest.approx(370.0)  # linear: 100 + 0.9 * 3 * 100
    assert s["p99_ttft_ms"] == pytest.approx(397.0)
    assert s["max_ttft_ms"] == pytest.approx(400.0)
    assert s["std_ttft_ms"] == pytest.approx(math.sqrt(0.0125) * 1000)
    assert s["median_itl_ms"] == pytest.approx(100.0)
    assert s["median_tpot_ms"] == pytest.approx(100.0)
    assert s["median_e2el_ms"] == pytest.approx(350.0)
    assert s["request_throughput"] == pytest.approx(2.0)
    assert s["output_throughput"] == pytest.approx(4.0)
    assert s["total_input_tokens"] == 40
    assert s["total_token_throughput"] == pytest.approx(24.0)
    assert s["request_goodput"] is None
    assert s["ttfts"] == pytest.approx([0.1, 0.2, 0.3, 0.4])


def test_errors_split_by_kind_and_excluded_from_latencies() -> None:
    ok = rec(0.0, [0.1, 0.2], 0.2)
    failures = [
        RequestRecord("x", 0.0, [], 0.01, error=ErrorKind.HTTP_4XX, status=429),
        RequestRecord("x", 0.0, [], 0.01, error=ErrorKind.HTTP_5XX, status=503),
        RequestRecord("x", 0.0, [5.0], 9.0, error=ErrorKind.TIMEOUT),
        RequestRecord("x", 0.0, [0.1], 0.3, error=ErrorKind.STREAM),
        RequestRecord("x", 0.0, [0.1], 0.3, error=ErrorKind.CLIENT_ABORT),
    ]
    s = summarize([ok, *failures], duration=1.0)
    assert s["completed"] == 1
    assert s["failed"] == 4  # client aborts are counted apart
    assert s["aborted"] == 1
    assert s["errors_by_kind"] == {"4xx": 1, "5xx": 1, "timeout": 1, "client_abort": 1, "stream": 1}
    assert s["max_ttft_ms"] == pytest.approx(100.0)
    assert s["output_lens"] == [2, 0, 0, 0, 0, 0]
    assert s["errors"][0] == "" and s["errors"][2].startswith("5xx")


def test_no_success_gives_null_latencies() -> None:
    s = summarize([RequestRecord("x", 0.0, [], 1.0, error=ErrorKind.HTTP_5XX)], duration=1.0)
    assert s["completed"] == 0
    assert s["median_ttft_ms"] is None and s["p99_itl_ms"] is None
    assert s["output_throughput"] == 0.0
    assert distribution([])["p50"] is None


def test_goodput_against_slo() -> None:
    fast = rec(0.0, [0.1, 0.12, 0.14], 0.14)  # ttft 100 ms, tpot 20 ms
    slow_first = rec(0.0, [0.9, 0.92, 0.94], 0.94)  # ttft 900 ms
    slow_decode = rec(0.0, [0.1, 0.3, 0.5], 0.5)  # tpot 200 ms
    one_token = rec(0.0, [0.2], 0.2)  # tpot counts as 0
    failed = RequestRecord("x", 0.0, [0.01], 0.02, error=ErrorKind.STREAM)
    slo = Slo.parse("ttft=500,tpot=50")
    s = summarize([fast, slow_first, slow_decode, one_token, failed], duration=2.0, slo=slo)
    assert s["request_goodput"] == pytest.approx(1.0)  # fast and one_token, over 2 s
    assert Slo.parse("e2el=0.5s").is_met(fast)
    assert not Slo.parse("e2el=100ms").is_met(fast)


@pytest.mark.parametrize("bad", ["ttft", "foo=1", "ttft=-1", "tpot=abc", "ttft=inf"])
def test_slo_parse_rejects(bad: str) -> None:
    with pytest.raises(ValueError):
        Slo.parse(bad)


def test_slo_parse_units() -> None:
    slo = Slo.parse("ttft=1.5s, tpot=40ms,e2el=2000")
    assert slo.as_dict() == {"ttft": 1500.0, "tpot": 40.0, "e2el": 2000.0}


def test_schema_validity_rate() -> None:
    a = rec(0.0, [0.1], 0.1, schema_valid=True)
    b = rec(0.0, [0.1], 0.1, schema_valid=False)
    c = rec(0.0, [0.1], 0.1, schema_valid=None)  # schema unusable: not counted
    d = rec(0.0, [0.1], 0.1)
    s = summarize([a, b, c, d, a], duration=1.0)
    assert s["schema_checked"] == 3
    assert s["schema_validity_rate"] == pytest.approx(2 / 3)
    assert summarize([d], duration=1.0)["schema_validity_rate"] is None
    cut = rec(0.0, [0.1], 0.1, schema_valid=False, finish_reason="length")
    assert summarize([a, b, cut], duration=1.0)["schema_truncated"] == 1


def test_peak_rates() -> None:
    records = [rec(0.0, [0.1, 0.2, 0.3], 0.3), rec(0.2, [0.5, 1.2], 1.3), rec(2.0, [2.1], 2.1)]
    max_tok, max_conc = peak_rates(records)
    assert max_tok == 4.0  # bucket [0, 1): 0.1 0.2 0.3 0.5
    assert max_conc == 2


def test_ratios() -> None:
    r = ratios({"a": 2.0, "b": 1.0, "c": None}, {"a": 1.0, "b": 0.0, "c": 1.0}, ["a", "b", "c"])
    assert r == {"a": 2.0, "b": None, "c": None}


def test_parse_metrics_sums_labels_and_counters() -> None:
    text = (
        "# TYPE vllm:num_requests_running gauge\n"
        'vllm:num_requests_running{model_name="a"} 2\n'
        'vllm:num_requests_running{model_name="b"} 3\n'
        "# TYPE vllm:spec_decode_num_drafts counter\n"
        'vllm:spec_decode_num_drafts_total{model_name="a"} 10\n'
    )
    m = parse_metrics(text)
    assert m["vllm:num_requests_running"] == 5.0
    assert m["vllm:spec_decode_num_drafts"] == 10.0


def test_spec_decode_stats_from_deltas() -> None:
    before = {
        "vllm:spec_decode_num_drafts": 10.0,
        "vllm:spec_decode_num_draft_tokens": 30.0,
        "vllm:spec_decode_num_accepted_tokens": 15.0,
    }
    after = {
        "vllm:spec_decode_num_drafts": 20.0,
        "vllm:spec_decode_num_draft_tokens": 60.0,
        "vllm:spec_decode_num_accepted_tokens": 33.0,
    }
    s = spec_decode_stats(before, after)
    assert s is not None
    assert s["spec_decode_acceptance_rate"] == pytest.approx(18 / 30)
    assert s["spec_decode_acceptance_length"] == pytest.approx(1 + 18 / 10)
    assert spec_decode_stats(before, before) is None
