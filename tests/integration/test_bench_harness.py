"""`structserve bench serve` against the real gateway and engine: a short, bounded run."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from bench import cli
from tests.integration.gateways import Gateway


@pytest.mark.integration
def test_bench_serve_short_run(gateway: Gateway, tmp_path: Path) -> None:
    out = tmp_path / "bench"
    started = time.monotonic()
    rc = cli.main(
        [
            "serve", "--base-url", gateway.base_url, "--name", "gateway",
            "--workload", "synthetic:3,json:1", "--concurrency", "2", "--num-prompts", "6",
            "--input-len", "32", "--output-len", "8", "--json-max-tokens", "48",
            "--warmup", "1", "--max-duration", "25", "--request-timeout", "25",
            "--slo", "ttft=20000,tpot=5000", "--cancel-probe", "2", "--metrics-interval", "0.5",
            "--seed", "1", "--result-dir", str(out), "--no-progress",
        ]
    )  # fmt: skip
    elapsed = time.monotonic() - started
    assert rc == 0
    result = json.loads((out / "result.json").read_text())
    point = result["points"][0]
    assert point["completed"] + point["failed"] + point["aborted"] == len(point["errors"])
    synthetic = [
        e for e, w in zip(point["errors"], point["workloads"], strict=True) if w == "synthetic"
    ]
    assert synthetic and all(e == "" for e in synthetic), point["errors"]
    # A schema the engine cannot compile ends its stream with an error event: counted, not fatal.
    assert all(e == "" or e.startswith("5xx") for e in point["errors"]), point["errors"]
    assert point["median_ttft_ms"] > 0 and point["output_throughput"] > 0
    assert point["model_id"] == gateway.model
    assert point["input_lens"][0] > 32  # the server's usage: prompt plus chat template
    running = point["server_metrics"]["vllm:num_requests_running"]
    assert running["max"] is not None and running["max"] >= 1
    probe = result["cancel_probe"]
    assert probe["aborted"] == 2
    assert probe["running_connected"] >= 2, probe
    assert probe["drained"] is True, probe  # the gateway passes the hang-up to the engine
    assert result["provenance"]["dataset"]["tokenizer"].endswith("tokenizer.json")
    assert (out / "ttft_cdf.png").stat().st_size > 0
    assert elapsed < 90
