"""`structserve bench soak` against the fake server (seconds, not minutes)."""

from __future__ import annotations

import io
import json
import os
import tarfile
from pathlib import Path

import pytest

from bench.client import Endpoint
from bench.proc_sampler import ProcSample, ProcSampler, growth, pid_listening_on
from bench.records import BenchRequest
from bench.soak import Mode, SoakPlan, run_soak
from bench.soak_report import Bounds, soak_result
from server.cli import main as structserve_main
from tests.unit.bench.fake_openai import FakeServer
from tests.unit.bench.test_cli import corpus, threaded_fake  # noqa: F401  (fixtures)


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    path = tmp_path / "jsb.tgz"
    with tarfile.open(path, "w:gz") as tar:
        raw = json.dumps({"type": "object"}).encode()
        info = tarfile.TarInfo("jsonschemabench/Glaiveai2K/a.json")
        info.size = len(raw)
        tar.addfile(info, io.BytesIO(raw))
    return path


def test_soak_cli_mixed_workload_passes_and_reports(
    threaded_fake: FakeServer,  # noqa: F811
    corpus: Path,  # noqa: F811
    archive: Path,
    tmp_path: Path,
) -> None:
    out = tmp_path / "soak"
    code = structserve_main(
        [
            "bench",
            "soak",
            "--base-url",
            threaded_fake.base_url,
            "--corpus",
            str(corpus),
            "--jsonschema-archive",
            str(archive),
            "--json-subsets",
            "Glaiveai2K",
            "--rate",
            "40",
            "--duration",
            "3",
            "--abort-share",
            "0.2",
            "--output-len",
            "6",
            "--sample-interval",
            "0.5",
            "--result-dir",
            str(out),
        ]
    )
    result = json.loads((out / "soak.json").read_text())
    assert code == 0, result["checks"]
    counts = result["counts"]
    assert counts["sent"] > 60 and counts["errors"] == 0
    assert set(counts["by_mode"]) == {"unary", "stream", "abort"}
    assert set(counts["by_api"]) == {"chat", "completions"}
    assert set(counts["by_workload"]) == {"synthetic", "chat", "json"}
    # JSON answers are one chunk long here: an abandoning client may get the whole answer first
    assert 0 < counts["aborted_by_client"] <= counts["by_mode"]["abort"]
    assert counts["completed"] == counts["sent"] - counts["aborted_by_client"]
    assert len(result["samples"]) >= 5 and result["samples"][0]["gateway_fds"] > 0
    assert set(result["checks"]) >= {"errors", "gateway_rss_growth_mib", "engine_fd_growth"}
    assert "# Soak: PASSED" in (out / "soak.md").read_text()


async def test_failed_requests_fail_the_soak(fake: FakeServer) -> None:
    endpoints = {api: Endpoint(fake.base_url, "503", api=api) for api in ("chat", "completions")}
    requests = [BenchRequest("chat", "hi", 4, 1), BenchRequest("synthetic", "yo", 4, 1)]
    plan = SoakPlan(rate=50, duration_s=0.5, abort_share=0.0)
    run = await run_soak(endpoints, requests, plan)
    assert run.records and all(r.failed for r in run.records)
    assert {r.mode for r in run.records} == {Mode.UNARY, Mode.STREAM}
    result = soak_result(run, plan, [], Bounds())
    assert not result["passed"] and result["counts"]["errors_by_kind"] == {"5xx": len(run.records)}
    assert "HTTP 503" in result["counts"]["error_examples"][0][0]


def test_growth_compares_settled_start_with_end() -> None:
    leak = [ProcSample(float(t), 100 * 2**20 + t * 2**20, 0, 10 + t, 0, 1) for t in range(100)]
    grown = growth(leak)
    assert grown["gateway_rss"]["growth"] == pytest.approx(85 * 2**20, rel=0.05)
    assert grown["gateway_fds"]["growth"] == pytest.approx(85, abs=2)
    plan = SoakPlan(rate=1, duration_s=100)
    from bench.soak import SoakRun

    result = soak_result(SoakRun(wall_s=100), plan, leak, Bounds())
    assert not result["passed"]
    assert not result["checks"]["gateway_rss_growth_mib"]["ok"]
    assert not result["checks"]["gateway_fd_growth"]["ok"]
    assert result["checks"]["engine_rss_growth_mib"]["ok"]


def test_sampler_finds_the_listener_and_reads_its_tree(threaded_fake: FakeServer) -> None:  # noqa: F811
    pid = pid_listening_on(threaded_fake.base_url)
    assert pid == os.getpid()
    sample = ProcSampler([pid]).sample()
    assert sample.gateway_rss > 10 * 2**20 and sample.gateway_fds > 3 and sample.processes >= 1
