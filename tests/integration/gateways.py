"""Real gateways for the integration tests: start, wait ready, attach, stop (server.launcher), and
the pool that keeps destructive tests off the session's gateway."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import openai
import psutil
import pytest

from server.launcher import EngineExitedError, EngineSpec, log_tail, spawn, stop, wait_healthy
from tests.prereq import DEFAULT_MODEL

MODEL = DEFAULT_MODEL
READY_TIMEOUT_S = float(os.environ.get("STRUCTSERVE_TEST_READY_TIMEOUT", "900"))


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
        return log_tail(self.log_path, n)

    def outstanding(self) -> int:
        """Requests this gateway has forwarded to its engines and not yet finished (/ready's
        `outstanding`): read from the gateway alone, so a busy engine cannot delay the answer,
        and counting only this gateway's requests, never another gateway's on a shared engine."""
        ready = httpx.get(f"{self.base_url}/ready", timeout=30).json()
        return sum(int(engine["outstanding"]) for engine in ready["engines"])

    def wait_outstanding(self, want: int, unary: dict[str, object], timeout_s: float = 60) -> None:
        """Until this gateway counts `want` requests in flight, failing if `unary` (filled by its
        thread when the request ends) ended first or `timeout_s` passes."""
        deadline = time.monotonic() + timeout_s
        while self.outstanding() < want:
            assert "status" not in unary, f"the request ended before it was seen: {unary}"
            assert time.monotonic() < deadline, f"never {want} requests in flight here"
            time.sleep(0.02)

    def wait_engine_running(self, want: float, timeout_s: float) -> float:
        """Poll the engine's `vllm:num_requests_running` (straight from the engine) until it is
        `want` or `timeout_s` passes; returns the last value read."""
        deadline = time.monotonic() + timeout_s
        value = self.engine_metric("vllm:num_requests_running", direct=True)
        while value != want and time.monotonic() < deadline:
            time.sleep(0.05)
            value = self.engine_metric("vllm:num_requests_running", direct=True)
        return value

    def wait_both_in_flight(
        self, unary: dict[str, object], *, engine_too: bool = True, timeout_s: float = 60
    ) -> None:
        """Until this gateway has forwarded two requests (an open stream and `unary`, whose
        thread fills `unary` when it ends) and, with `engine_too`, the engine runs at least two.

        The gateway's own count (`outstanding`) is what proves both were accepted here: the
        engine is shared with other gateways of the session (attached by `--engine-url`), whose
        backend canaries also run in it after an engine restart, so its running count alone can
        reach two while `unary` has not even connected. That count is read from /ready, which
        answers without asking the engine: /metrics also scrapes the engine (up to 5 s when it
        is busy), and a poll that slow could miss a short request entirely.
        """
        deadline = time.monotonic() + timeout_s
        polls: list[str] = []  # the timeline, for the failure message
        while True:
            started = time.monotonic()
            here = self.outstanding()
            running = (
                self.engine_metric("vllm:num_requests_running", direct=True) if engine_too else 2
            )
            polls.append(f"{here}/{running:g} in {time.monotonic() - started:.2f} s")
            if here >= 2 and running >= 2:
                return
            assert "status" not in unary, (
                f"the second request ended before both were seen in flight: {unary}; "
                f"polls (here/engine): {polls[-20:]}"
            )
            assert time.monotonic() < deadline, (
                f"the second request never started; polls (here/engine): {polls[-20:]}"
            )
            time.sleep(0.05)


def raw_request(gw: Gateway, body: dict[str, object], *, receive_buffer: int = 0) -> socket.socket:
    """POST `body` to /v1/completions over a bare socket and return it unread: the caller
    decides when the client goes away (closing it) or whether it never reads (a small
    `receive_buffer` fills at once), with no client-side timeout racing the test."""
    payload = json.dumps(body).encode()
    host, port = gw.base_url.removeprefix("http://").split(":")
    sock = socket.socket()
    if receive_buffer:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.connect((host, int(port)))
    head = (
        f"POST /v1/completions HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\n\r\n"
    ).encode()
    sock.sendall(head + payload)
    return sock


def wait_ready(gw: Gateway, timeout_s: float) -> None:
    """Block until /ready answers 200, or fail with the log tail."""
    try:
        wait_healthy(gw.process, gw.base_url, timeout_s=timeout_s, path="/ready", interval_s=1.0)
    except EngineExitedError as exc:
        pytest.fail(f"gateway exited ({exc.returncode}):\n{gw.log_tail()}")
    except TimeoutError:
        pytest.fail(f"gateway not ready after {timeout_s:.0f} s:\n{gw.log_tail()}")


def start_gateway(args: list[str], log_path: Path, engine_url: str) -> Gateway:
    """Start `structserve serve ARGS` on a free port; returns without waiting for readiness."""
    port = free_port()
    cmd = [sys.executable, "-m", "server.cli", "serve", "--port", str(port), *args]
    proc = spawn(cmd, log_path=log_path)  # server.launcher: own process group, dies with us
    return Gateway(f"http://127.0.0.1:{port}", engine_url, MODEL, proc, log_path)


def stop_gateway(gw: Gateway, timeout_s: float = 60) -> None:
    """SIGTERM the gateway (it drains and stops its engine), SIGKILL the group if it hangs."""
    stop(gw.process, timeout_s=timeout_s)


def start_ready_gateway(
    args: list[str], log_path: Path, engine_url: str, timeout_s: float
) -> Gateway:
    """`start_gateway`, then wait until it is ready (stopping it when it never is)."""
    gw = start_gateway(args, log_path, engine_url)
    try:
        wait_ready(gw, timeout_s)
    except BaseException:
        stop_gateway(gw)
        raise
    return gw


def start_default_gateway(log_dir: Path) -> Gateway:
    """A gateway + its own engine on the default model, ready."""
    engine_port = free_port()
    args = ["--model", MODEL, "--engine-port", str(engine_port), "--kv-cache-gb", "1"]
    args += ["--restart-backoff-s", "0.5", "--health-interval-s", "0.5"]
    args += ["--responses-db", str(log_dir / "responses.sqlite")]  # not the user's cache
    args += ["--choice-sets-dir", str(choice_sets_dir(log_dir))]
    url = f"http://127.0.0.1:{engine_port}"
    return start_ready_gateway(args, log_dir / "serve.log", url, READY_TIMEOUT_S)


def choice_sets_dir(log_dir: Path) -> Path:
    """The choice-set store of a default gateway started in `log_dir` (its engine reads it)."""
    return log_dir / "choice_sets"


def engine_spec(
    model: Path, *, max_model_len: int, extra_args: list[str], **env: str
) -> EngineSpec:
    """A test engine on `model` (server.launcher), served as "m" on a free port, 1 GiB KV cache."""
    return EngineSpec(
        model_path=str(model),
        served_name="m",
        host="127.0.0.1",
        port=free_port(),
        kv_cache_gb=1.0,
        max_model_len=max_model_len,
        extra_args=extra_args,
        env={"VLLM_CPU_KVCACHE_SPACE": "1", **env},
    )


@contextlib.contextmanager
def attached(target: Gateway, log_dir: Path, *extra: str) -> Iterator[Gateway]:
    """Another gateway with extra flags, attached to `target`'s engine (no new engine)."""
    with attached_to(target.engine_url, log_dir, *extra) as gw:
        yield gw


@contextlib.contextmanager
def attached_to(engine_url: str, log_dir: Path, *extra: str) -> Iterator[Gateway]:
    """A gateway with extra flags attached (`--engine-url`) to the engine at `engine_url`."""
    args = ["--engine-url", engine_url, "--health-interval-s", "0.5", *extra]
    gw = start_gateway(args, log_dir / "serve.log", engine_url)
    try:
        wait_ready(gw, 60)
        yield gw
    finally:
        stop_gateway(gw)


def _serving(gw: Gateway) -> bool:
    if gw.process.poll() is not None:
        return False
    try:
        wait_healthy(gw.process, gw.base_url, timeout_s=60, path="/ready", interval_s=1.0)
    except (EngineExitedError, TimeoutError):
        return False
    return True


def _needed_from(item: pytest.Item, fixture: str) -> bool:
    """Whether `item` or any test after it in this session uses `fixture` (directly or not)."""
    items = item.session.items
    start = items.index(item) if item in items else 0
    return any(fixture in getattr(it, "fixturenames", ()) for it in items[start:])


@dataclass
class GatewayPool:
    """The session's default-model gateways: one shared by the tests, and a spare one that only
    destructive tests use.

    `own(item)` gives a destructive test the spare gateway when it still serves (the previous
    destructive test left it intact); else it takes over the shared gateway when no test from
    `item` on uses it (destructive tests are collected last, so a full run starts no extra
    engine); else it starts a new one. The shared gateway is never handed to a destructive test
    while another test may still need it, whatever the order.
    """

    start: Callable[[str], Gateway]
    serving: Callable[[Gateway], bool] = _serving
    stopper: Callable[[Gateway], None] = stop_gateway
    shared_gw: Gateway | None = None
    spare: Gateway | None = None
    started: list[Gateway] = field(default_factory=list)

    def _new(self, name: str) -> Gateway:
        gw = self.start(name)
        self.started.append(gw)
        return gw

    def shared(self) -> Gateway:
        """The gateway the non-destructive tests share (started on first use)."""
        if self.shared_gw is None:
            self.shared_gw = self._new("gateway")
        return self.shared_gw

    def own(self, item: pytest.Item) -> Gateway:
        """A gateway no other test uses, for the destructive test `item`."""
        if self.spare is not None and not self.serving(self.spare):
            self.stopper(self.spare)
            self.spare = None
        if self.spare is None and self.shared_gw is not None and not _needed_from(item, "gateway"):
            self.spare, self.shared_gw = self.shared_gw, None  # retired: no test needs it now
        if self.spare is None:
            self.spare = self._new("own-gateway")
        return self.spare

    def close(self) -> list[Gateway]:
        """Stop every gateway the pool started; returns them (for their logs)."""
        for gw in self.started:
            self.stopper(gw)
        return self.started
