"""Session fixtures: ONE real gateway + vLLM engine (SmolLM2-135M) for the whole test session.

`gateway` starts `structserve serve` as a child process exactly as a user would (the CLI, the
supervisor, the real engine) and stops it at the end. `attach_gateway` starts extra gateways
(other settings, e.g. API keys) attached to the same engine with `--engine-url`: no new engine.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import openai
import psutil
import pytest

MODEL = "smollm2-135m-instruct"
READY_TIMEOUT_S = float(os.environ.get("STRUCTSERVE_TEST_READY_TIMEOUT", "900"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything under tests/integration is an integration test."""
    for item in items:
        if "tests/integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Gateway:
    """A running `structserve serve` process."""

    base_url: str
    engine_url: str
    model: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def client(self, **kwargs: object) -> openai.OpenAI:
        """The official OpenAI client pointed at this gateway."""
        kwargs.setdefault("api_key", "unused")
        kwargs.setdefault("max_retries", 0)
        kwargs.setdefault("timeout", 120.0)
        return openai.OpenAI(base_url=f"{self.base_url}/v1", **kwargs)  # type: ignore[arg-type]

    def engine_process(self) -> psutil.Process:
        """The vLLM API-server process this gateway supervises."""
        for child in psutil.Process(self.process.pid).children(recursive=True):
            with contextlib.suppress(psutil.Error):
                if "vllm.entrypoints.openai.api_server" in " ".join(child.cmdline()):
                    return child
        raise LookupError("no engine child process")

    def engine_metric(self, name: str, *, direct: bool = False) -> float:
        """Sum of an engine metric's samples, read through the gateway's /metrics (or straight
        from the engine when `direct`: a busy engine can miss the gateway's scrape timeout)."""
        url = self.engine_url if direct else self.base_url
        text = httpx.get(f"{url}/metrics", timeout=30).text
        total = 0.0
        for line in text.splitlines():
            if line.startswith(name + "{") or line.startswith(name + " "):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def log_tail(self, n: int = 60) -> str:
        """Last lines of the gateway's (and engine's) output."""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])


def wait_ready(gw: Gateway, timeout_s: float) -> None:
    """Block until /ready answers 200, or fail with the log tail."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if gw.process.poll() is not None:
            pytest.fail(f"gateway exited ({gw.process.returncode}):\n{gw.log_tail()}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{gw.base_url}/ready", timeout=2).status_code == 200:
                return
        time.sleep(1.0)
    pytest.fail(f"gateway not ready after {timeout_s:.0f} s:\n{gw.log_tail()}")


def start_gateway(args: list[str], log_path: Path, engine_url: str) -> Gateway:
    """Start `structserve serve ARGS` on a free port; returns without waiting for readiness."""
    port = free_port()
    cmd = [sys.executable, "-m", "server.cli", "serve", "--port", str(port), *args]
    log = log_path.open("wb")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    return Gateway(f"http://127.0.0.1:{port}", engine_url, MODEL, proc, log_path)


def stop_gateway(gw: Gateway, timeout_s: float = 60) -> None:
    """SIGTERM the gateway (it drains and stops its engine), SIGKILL the group if it hangs."""
    if gw.process.poll() is None:
        gw.process.send_signal(signal.SIGTERM)
        try:
            gw.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(gw.process.pid, signal.SIGKILL)
            gw.process.wait(10)


@pytest.fixture(scope="session")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """The session's gateway over the real vLLM engine serving SmolLM2-135M-Instruct."""
    engine_port = free_port()
    log_path = tmp_path_factory.mktemp("gateway") / "serve.log"
    args = ["--model", MODEL, "--engine-port", str(engine_port), "--kv-cache-gb", "1"]
    args += ["--restart-backoff-s", "0.5", "--health-interval-s", "0.5"]
    gw = start_gateway(args, log_path, f"http://127.0.0.1:{engine_port}")
    try:
        wait_ready(gw, READY_TIMEOUT_S)
        yield gw
    finally:
        stop_gateway(gw)
        print(f"\n--- gateway log tail ({log_path}) ---\n{gw.log_tail(20)}")


@pytest.fixture(scope="session")
def attach_gateway(
    gateway: Gateway, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., Gateway]]:
    """Factory: another gateway with extra flags, attached to the session's engine."""
    started: list[Gateway] = []

    def make(*extra: str) -> Gateway:
        log_path = tmp_path_factory.mktemp("attached") / "serve.log"
        args = ["--engine-url", gateway.engine_url, "--health-interval-s", "0.5", *extra]
        gw = start_gateway(args, log_path, gateway.engine_url)
        started.append(gw)
        wait_ready(gw, 60)
        return gw

    yield make
    for gw in started:
        stop_gateway(gw)
