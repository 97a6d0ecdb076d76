"""`structserve bench` end to end against the fake server (run in a thread of its own)."""

from __future__ import annotations

import asyncio
import json
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench import cli
from server.cli import main as structserve_main
from tests.unit.bench.fake_openai import FakeServer


def _serve_in_thread() -> Iterator[FakeServer]:
    loop = asyncio.new_event_loop()
    server = FakeServer()
    started = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(server.start())
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    started.wait(10)
    try:
        yield server
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


@pytest.fixture
def threaded_fake() -> Iterator[FakeServer]:
    yield from _serve_in_thread()


@pytest.fixture
def second_fake() -> Iterator[FakeServer]:
    yield from _serve_in_thread()


def _serve(url: str, corpus: Path, out: Path, flags: str, *extra: str) -> int:
    """`structserve bench serve` against `url` on `corpus`, writing to `out`."""
    argv = ["serve", "--base-url", url, "--corpus", str(corpus), "--result-dir", str(out)]
    return cli.main([*argv, *flags.split(), *extra])


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    path = tmp_path / "corpus.txt"
    path.write_text(" ".join(f"w{i}" for i in range(3000)) + "\n")
    return path


def test_serve_writes_json_markdown_and_plots(
    threaded_fake: FakeServer, corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    rc = _serve(
        threaded_fake.base_url,
        corpus,
        out,
        "--concurrency 1,4 --num-prompts 6 --output-len 4 --slo ttft=1000,tpot=500 --cancel-probe "
        "2 --seed 3 --no-progress --metrics-interval 0.05",
    )
    assert rc == 0
    result = json.loads((out / "result.json").read_text())
    assert {p["label"] for p in result["points"]} == {"c1", "c4"}
    point = result["points"][0]
    for key in (
        "duration",
        "completed",
        "request_throughput",
        "output_throughput",
        "total_token_throughput",
        "request_goodput",
        "mean_ttft_ms",
        "median_ttft_ms",
        "p99_ttft_ms",
        "p90_itl_ms",
        "median_tpot_ms",
        "max_e2el_ms",
        "ttfts",
        "itls",
        "input_lens",
        "output_lens",
        "errors",
        "server_metrics",
    ):
        assert key in point, key
    assert point["completed"] == 6 and point["total_output_tokens"] == 24
    assert point["model_id"] == "fake-model"  # resolved from /v1/models
    prov = result["provenance"]
    assert prov["seed"] == 3 and prov["model_id"] == "fake-model"
    assert len(prov["dataset"]["requests_sha256"]) == 64
    assert str(corpus) in prov["dataset"]["source_sha256"]
    assert prov["machine"]["cpu_count"] and "--concurrency" in prov["argv"]
    assert result["cancel_probe"]["aborted"] == 2
    for name in ("summary.md", "latency_vs_throughput.png", "ttft_cdf.png"):
        assert (out / name).stat().st_size > 0
    assert (out / "latency_vs_throughput.png").read_bytes()[:4] == b"\x89PNG"
    assert "| target | c1 |" in capsys.readouterr().out


def test_compare_prints_ratios(
    threaded_fake: FakeServer, second_fake: FakeServer, corpus: Path, tmp_path: Path
) -> None:
    out = tmp_path / "cmp"
    rc = _serve(
        threaded_fake.base_url,
        corpus,
        out,
        "--name gateway --compare-name engine --concurrency 1,2 --num-prompts 4 --output-len 3 "
        "--model m --no-progress --no-plots --no-per-request --warmup 1",
        "--compare-base-url",
        second_fake.base_url,
    )
    assert rc == 0
    result = json.loads((out / "result.json").read_text())
    assert [(p["label"], p["target"]) for p in result["points"]] == [
        ("c1", "gateway"),
        ("c1", "engine"),
        ("c2", "gateway"),
        ("c2", "engine"),
    ]
    assert "ttfts" not in result["points"][0]
    rows = result["comparison"]
    assert [r["label"] for r in rows] == ["c1", "c2"]
    assert rows[0]["numerator"] == "gateway" and rows[0]["ratios"]["output_throughput"] > 0
    assert "Ratios gateway / engine" in (out / "summary.md").read_text()
    assert threaded_fake.requests_seen == second_fake.requests_seen == 1 + 4 + 4
    salts = {b["cache_salt"] for b in threaded_fake.bodies + second_fake.bodies}
    assert len(salts) == 18  # comparing: a fresh salt per request, no shared prefix cache


def test_all_failing_returns_1(threaded_fake: FakeServer, corpus: Path, tmp_path: Path) -> None:
    rc = _serve(
        threaded_fake.base_url,
        corpus,
        tmp_path / "f",
        "--model 503 --num-prompts 3 --no-progress --warmup 0 --no-plots",
    )
    assert rc == 1
    point = json.loads((tmp_path / "f" / "result.json").read_text())["points"][0]
    assert point["errors_by_kind"]["5xx"] == 3


def test_sweep_from_cli(threaded_fake: FakeServer, corpus: Path, tmp_path: Path) -> None:
    rc = _serve(
        threaded_fake.base_url,
        corpus,
        tmp_path / "s",
        "--sweep 1 --num-prompts 4 --output-len 2 --no-progress --no-plots --burstiness 0.5",
    )
    assert rc == 0
    points = json.loads((tmp_path / "s" / "result.json").read_text())["points"]
    assert len(points) == 3 and points[2]["burstiness"] == 0.5


def test_dispatch_and_missing_delegate(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(cli.DELEGATED, "nosuch", cli.Benchmark("bench.no_such_module", "absent"))
    assert cli.main(["nosuch"]) == 2
    assert "not available" in capsys.readouterr().err
    assert cli.main([]) == 2
    with pytest.raises(SystemExit):
        cli.main(["serve", "--slo", "bogus=1"])
    with pytest.raises(SystemExit) as exc:
        structserve_main(["bench", "serve", "--help"])
    assert exc.value.code == 0
    assert "--compare-base-url" in capsys.readouterr().out


SHIPPED = (
    "serve",
    "jsonschemabench",
    "soak",
    "formats",
    "kernel-speed",
    "random-model",
    "schema-suite",
    "jsb-offline",
    "bfcl",
    "choice-trie",
    "choice-registration",
    "choice-grammars",
    "choice-sets",
    "budget-closing",
    "verdict-latency",
)


def test_help_lists_exactly_the_shipped_benchmarks(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        structserve_main(["bench", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    section = out.split("positional arguments:")[1].split("options:")[0]
    listed = re.findall(r"^    (\S+)", section, flags=re.M)
    assert tuple(listed) == SHIPPED


@pytest.mark.parametrize("command", SHIPPED)
def test_every_subcommand_help_works(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main([command, "--help"])
    assert exc.value.code == 0
    assert "usage:" in capsys.readouterr().out
