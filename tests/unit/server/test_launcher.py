"""The engine launcher with a fake engine (a tiny `python -c` HTTP server): start, healthy, early
exit with the log tail, stop kills the whole process group, SIGKILL after the grace period."""

from __future__ import annotations

import socket
import sys
import time
from pathlib import Path

import pytest

from server.launcher import (
    EngineExitedError,
    EngineSpec,
    log_tail,
    running_engine,
    spawn,
    stop,
    wait_healthy,
)
from tests.unit.server.processes import gone_within

# /health answers 200 after `delay` s; a grandchild in the same group sleeps (its pid in argv[2])
FAKE_ENGINE = """
import http.server, pathlib, subprocess, sys, time
port, marker, delay = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
pathlib.Path(marker).write_text(str(child.pid))
print("fake engine starting", flush=True)
time.sleep(delay)

class Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/health" else 404)
        self.end_headers()

    def log_message(self, *args):
        pass

http.server.HTTPServer(("127.0.0.1", port), Health).serve_forever()
"""


class _FakeSpec(EngineSpec):
    def __init__(self, port: int, argv: list[str]) -> None:
        super().__init__(model_path="m", served_name="m", host="127.0.0.1", port=port)
        self.argv = argv

    def command(self) -> list[str]:
        return [sys.executable, "-c", *self.argv]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_engine_command_has_cpu_defaults() -> None:
    spec = EngineSpec(
        model_path="/m", served_name="s", host="h", port=9, max_model_len=64, extra_args=["--x"]
    )
    cmd = spec.command()
    assert cmd[1:3] == ["-m", "vllm.entrypoints.openai.api_server"]
    assert cmd[-1] == "--x" and "--enforce-eager" in cmd and "64" in cmd
    assert spec.environment()["VLLM_CPU_KVCACHE_SPACE"] == "2"
    assert spec.url == "http://h:9"


def test_caller_env_overrides_defaults() -> None:
    spec = EngineSpec("/m", "s", "h", 9, kv_cache_gb=1, env={"TOKENIZERS_PARALLELISM": "true"})
    env = spec.environment()
    assert env["VLLM_CPU_KVCACHE_SPACE"] == "1" and env["TOKENIZERS_PARALLELISM"] == "true"


def test_metrics_dir_is_the_engines_multiprocess_dir_and_emptied_before_each_start(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "engine_metrics" / "8001"
    spec = EngineSpec("/m", "s", "h", 9, metrics_dir=str(folder))
    assert spec.environment()["PROMETHEUS_MULTIPROC_DIR"] == str(folder)
    spec.prepare()
    (folder / "histogram_123.db").write_bytes(b"figures of the previous run")
    spec.prepare()
    assert folder.is_dir() and not any(folder.iterdir())
    assert "PROMETHEUS_MULTIPROC_DIR" not in EngineSpec("/m", "s", "h", 9).env


def test_start_healthy_then_stop_kills_the_group(tmp_path: Path) -> None:
    port, marker = _free_port(), tmp_path / "child.pid"
    spec = _FakeSpec(port, [FAKE_ENGINE, str(port), str(marker), "0.3"])
    with running_engine(spec, tmp_path / "engine.log", ready_timeout_s=30) as engine:
        assert engine.process.poll() is None
        assert "fake engine starting" in log_tail(engine.log_path)
        grandchild, parent = int(marker.read_text()), engine.process.pid
    assert gone_within(parent, 5.0)
    assert gone_within(grandchild, 5.0), "a process of the engine's group survived stop()"


def test_early_exit_fails_fast_with_the_log_tail(tmp_path: Path) -> None:
    spec = _FakeSpec(_free_port(), ["import sys; print('bad weights: layer 3'); sys.exit(7)"])
    started = time.monotonic()
    with (
        pytest.raises(EngineExitedError) as err,
        running_engine(spec, tmp_path / "engine.log", ready_timeout_s=60),
    ):
        pass
    assert time.monotonic() - started < 30
    assert err.value.returncode == 7 and "bad weights: layer 3" in err.value.tail
    assert "bad weights: layer 3" in str(err.value)


def test_not_healthy_in_time_is_a_timeout(tmp_path: Path) -> None:
    log = tmp_path / "engine.log"
    proc = spawn([sys.executable, "-c", "print('slow', flush=True); import time; time.sleep(60)"],
                 log_path=log)  # fmt: skip
    try:
        with pytest.raises(TimeoutError, match="slow"):
            wait_healthy(proc, f"http://127.0.0.1:{_free_port()}", timeout_s=1.0, log_path=log)
    finally:
        assert stop(proc, timeout_s=5) != 0


def test_stop_sigkills_a_child_that_ignores_sigterm(tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    script = (
        "import pathlib, signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN);"
        f"pathlib.Path({str(ready)!r}).touch(); time.sleep(600)"
    )
    proc = spawn([sys.executable, "-c", script])
    deadline = time.monotonic() + 30
    while not ready.exists():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    started = time.monotonic()
    assert stop(proc, timeout_s=0.5) == -9
    assert time.monotonic() - started < 10
