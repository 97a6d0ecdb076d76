"""The one engine launcher: spawn vLLM's OpenAI server, wait until healthy, stop its process group.

`EngineSpec` is the engine's command line and environment exactly as `structserve serve` starts
it (CPU defaults, `--enforce-eager`, ...); the supervisor, the benchmarks and the tests all build
their engines from it. The child runs in its own session (process group), so a signal reaches the
engine with its workers and nothing else, and it dies with its parent (PR_SET_PDEATHSIG; note the
kernel sends it when the spawning *thread* exits).

Two forms: `spawn_async` / `stop_async` for the gateway's supervisor (asyncio), and `spawn`,
`wait_healthy`, `stop` and the `running_engine` context manager for benchmarks and tests.
Torch-free: the gateway imports this.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

log = logging.getLogger("structserve.launcher")

ENGINE_MODULE = "vllm.entrypoints.openai.api_server"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
_PR_SET_PDEATHSIG = 1


@dataclass
class EngineSpec:
    """How to launch one vLLM engine."""

    model_path: str
    served_name: str
    host: str
    port: int
    python: str = sys.executable
    enforce_eager: bool = True
    kv_cache_gb: float = 2.0
    max_model_len: int | None = None
    extra_args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    metrics_dir: str | None = None  # PROMETHEUS_MULTIPROC_DIR, emptied before every start

    @property
    def url(self) -> str:
        """Base URL of the engine's HTTP server."""
        return f"http://{self.host}:{self.port}"

    def command(self) -> list[str]:
        """The engine's argv."""
        cmd = [self.python, "-m", ENGINE_MODULE]
        cmd += ["--model", self.model_path, "--served-model-name", self.served_name]
        cmd += ["--host", self.host, "--port", str(self.port)]
        if self.enforce_eager:
            cmd.append("--enforce-eager")
        if self.max_model_len is not None:
            cmd += ["--max-model-len", str(self.max_model_len)]
        return cmd + list(self.extra_args)

    def environment(self) -> dict[str, str]:
        """The engine's environment: ours plus CPU defaults, overridable by the caller."""
        env = dict(os.environ)
        env.setdefault("VLLM_CPU_KVCACHE_SPACE", f"{self.kv_cache_gb:g}")
        env.setdefault("TOKENIZERS_PARALLELISM", "false")
        if self.metrics_dir is not None:
            env[MULTIPROC_ENV] = self.metrics_dir
        env.update(self.env)
        return env

    def prepare(self) -> None:
        """Before each start: an empty `metrics_dir`, so the engine's /metrics (prometheus-client
        multiprocess mode, which also carries the engine-core process's choice-set metrics)
        holds no figures of a previous run."""
        if self.metrics_dir is None:
            return
        path = Path(self.metrics_dir)
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True, exist_ok=True)


class EngineExitedError(RuntimeError):
    """The child exited before it answered healthy; carries its exit code and log tail."""

    def __init__(self, returncode: int, tail: str) -> None:
        super().__init__(f"process exited with code {returncode} before it was healthy\n{tail}")
        self.returncode = returncode
        self.tail = tail


def die_with_parent() -> None:
    """Ask the kernel to SIGTERM this process when its parent dies (runs in the forked child)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def signal_group(pid: int, sig: signal.Signals) -> None:
    """Send `sig` to the process group led by `pid`; a group already gone is fine."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def _preexec() -> Callable[[], None] | None:
    return die_with_parent if sys.platform == "linux" else None


def log_tail(path: Path | None, lines: int = 40) -> str:
    """The last `lines` lines of a child's log file ("" without one)."""
    if path is None or not path.is_file():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def spawn(
    cmd: Sequence[str], *, env: Mapping[str, str] | None = None, log_path: Path | None = None
) -> subprocess.Popen[bytes]:
    """Start `cmd` in its own session, dying with us; stdout+stderr go to `log_path` if given.

    Args:
        cmd: argv.
        env: the full environment (None: ours).
        log_path: file for the child's output (truncated); None: inherit ours.
    """
    with contextlib.ExitStack() as stack:
        out = stack.enter_context(log_path.open("wb")) if log_path is not None else None
        return subprocess.Popen(
            list(cmd),
            env=dict(env) if env is not None else None,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT if out is not None else None,
            start_new_session=True,
            preexec_fn=_preexec(),
        )


def wait_healthy(
    proc: subprocess.Popen[bytes],
    url: str,
    *,
    timeout_s: float,
    log_path: Path | None = None,
    path: str = "/health",
    interval_s: float = 0.5,
) -> float:
    """Block until GET `url + path` answers 200.

    Returns:
        seconds waited.

    Raises:
        EngineExitedError: the process exited first (with its log tail).
        TimeoutError: not healthy within `timeout_s` (with its log tail).
    """
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if proc.poll() is not None:
            raise EngineExitedError(proc.returncode, log_tail(log_path))
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}{path}", timeout=2).status_code == 200:
                return time.monotonic() - started
        time.sleep(interval_s)
    raise TimeoutError(f"{url}{path} not healthy after {timeout_s:.0f} s\n{log_tail(log_path)}")


def stop(proc: subprocess.Popen[bytes], *, timeout_s: float = 30.0) -> int:
    """SIGTERM the child's process group, SIGKILL it after `timeout_s`, then kill leftovers.

    Returns:
        the child's exit code.
    """
    if proc.poll() is None:
        signal_group(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            log.warning("pid %d ignored SIGTERM for %.0f s; killing", proc.pid, timeout_s)
            signal_group(proc.pid, signal.SIGKILL)
            proc.wait()
    signal_group(proc.pid, signal.SIGKILL)  # leftovers in the group (workers)
    return proc.returncode


async def spawn_async(
    cmd: Sequence[str], *, env: Mapping[str, str] | None = None
) -> asyncio.subprocess.Process:
    """`spawn` for asyncio: own session, dies with us, output inherited."""
    return await asyncio.create_subprocess_exec(
        *cmd,
        env=dict(env) if env is not None else None,
        stdin=asyncio.subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=_preexec(),
    )


async def stop_async(proc: asyncio.subprocess.Process, *, timeout_s: float = 20.0) -> int:
    """`stop` for asyncio: SIGTERM the group, SIGKILL after `timeout_s`, then kill leftovers."""
    if proc.returncode is None:
        signal_group(proc.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), timeout_s)
        except TimeoutError:
            log.warning("pid %d ignored SIGTERM for %.0f s; killing", proc.pid, timeout_s)
            signal_group(proc.pid, signal.SIGKILL)
            await proc.wait()
    signal_group(proc.pid, signal.SIGKILL)  # leftovers in the group (workers)
    return await proc.wait()


@dataclass
class Engine:
    """A started engine (sync form): its spec, process and log file."""

    spec: EngineSpec
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def url(self) -> str:
        """Base URL of the engine's HTTP server."""
        return self.spec.url

    def wait_healthy(self, timeout_s: float) -> float:
        """`wait_healthy` on this engine's /health; returns seconds waited."""
        return wait_healthy(self.process, self.url, timeout_s=timeout_s, log_path=self.log_path)

    def stop(self, timeout_s: float = 60.0) -> int:
        """`stop` this engine's process group; returns its exit code."""
        return stop(self.process, timeout_s=timeout_s)


@contextlib.contextmanager
def running_engine(
    spec: EngineSpec,
    log_path: Path,
    *,
    ready_timeout_s: float | None = 900.0,
    stop_timeout_s: float = 60.0,
) -> Iterator[Engine]:
    """Start an engine, wait until healthy (unless `ready_timeout_s` is None), stop it on exit.

    Args:
        spec: the engine to start.
        log_path: its output.
        ready_timeout_s: how long to wait for /health; None: return at once (the caller waits).
        stop_timeout_s: SIGTERM grace before SIGKILL.
    """
    cmd = spec.command()
    log.info("starting engine: %s", " ".join(cmd))
    spec.prepare()
    engine = Engine(spec, spawn(cmd, env=spec.environment(), log_path=log_path), log_path)
    try:
        if ready_timeout_s is not None:
            engine.wait_healthy(ready_timeout_s)
        yield engine
    finally:
        engine.stop(stop_timeout_s)
