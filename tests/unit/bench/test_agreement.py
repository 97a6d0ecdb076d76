"""The agreement check's parsing of GuideLLM reports and its summary table."""

from __future__ import annotations

from bench.agreement import Point, guidellm_figures, summarize


def _dist(median: float, total: float = 0.0) -> dict[str, dict[str, float]]:
    return {"successful": {"median": median, "total_sum": total}}


def test_guidellm_figures_from_report() -> None:
    report = {
        "benchmarks": [
            {
                "duration": 4.0,
                "metrics": {
                    "output_token_count": _dist(64.0, total=256.0),
                    "time_to_first_token_ms": _dist(120.0),
                    "inter_token_latency_ms": _dist(21.5),
                },
            }
        ]
    }
    assert guidellm_figures(report) == {
        "output_throughput": 64.0,
        "median_ttft_ms": 120.0,
        "median_tpot_ms": 21.5,
    }


def test_summary_medians_and_ratios_to_ours() -> None:
    points = [
        Point("ours", 1, 0, 50.0, 100.0, 20.0),
        Point("ours", 1, 1, 40.0, 110.0, 21.0),
        Point("ours", 1, 2, 60.0, 90.0, 19.0),
        Point("vllm", 1, 0, 55.0, 150.0, 20.0),
    ]
    table = summarize(points)
    ours = next(line for line in table.splitlines() if "| ours |" in line)
    vllm = next(line for line in table.splitlines() if "| vllm |" in line)
    assert "| 50.0 | 100 | 20.0 | 1.000 | 1.000 |" in ours
    assert "| 55.0 | 150 | 20.0 | 1.100 | 1.500 |" in vllm
