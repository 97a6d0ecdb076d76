"""Starts vLLM's OpenAI server as a child process, restarts it when it dies, stops it cleanly.

The child runs in its own session (process group): Ctrl-C and SIGTERM reach only the gateway,
which drains in-flight requests first and then stops the whole engine group.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger("structserve.supervisor")

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # runs in the child between fork and exec
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


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

    @property
    def url(self) -> str:
        """Base URL of the engine's HTTP server."""
        return f"http://{self.host}:{self.port}"

    def command(self) -> list[str]:
        """The engine's argv."""
        cmd = [self.python, "-m", "vllm.entrypoints.openai.api_server"]
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
        env.update(self.env)
        return env


class EngineSupervisor:
    """Keeps one engine process alive: start, watch, restart with backoff, stop."""

    def __init__(
        self,
        spec: EngineSpec,
        *,
        backoff_s: float = 1.0,
        backoff_max_s: float = 60.0,
        on_exit: Callable[[int], None] | None = None,
        is_ready: Callable[[], bool] | None = None,
        start_timeout_s: float = 900.0,
    ) -> None:
        self.spec = spec
        self.backoff_s = backoff_s
        self.backoff_max_s = backoff_max_s
        self.on_exit = on_exit  # called with the exit code each time the engine dies
        self.is_ready = is_ready  # health as the pool sees it; None: never time out a start
        self.start_timeout_s = start_timeout_s
        self.process: asyncio.subprocess.Process | None = None
        self.restarts = 0
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    @property
    def pid(self) -> int | None:
        """PID of the running engine process, if any."""
        proc = self.process
        return proc.pid if proc is not None and proc.returncode is None else None

    async def _spawn(self) -> asyncio.subprocess.Process:
        log.info("starting engine: %s", " ".join(self.spec.command()))
        return await asyncio.create_subprocess_exec(
            *self.spec.command(),
            env=self.spec.environment(),
            stdin=asyncio.subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )

    async def _run(self) -> None:
        delay = self.backoff_s
        while not self._stopping:
            started = asyncio.get_running_loop().time()
            self.process = await self._spawn()
            code = await self._wait_exit(self.process)
            _signal_group(self.process.pid, signal.SIGKILL)  # workers left in its group
            if self._stopping:
                return
            log.error("engine exited with code %s", code)
            if self.on_exit is not None:
                self.on_exit(code)
            self.restarts += 1
            if asyncio.get_running_loop().time() - started > 10 * self.backoff_max_s:
                delay = self.backoff_s  # it ran a long while: start the backoff over
            log.info("restarting engine in %.1f s", delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.backoff_max_s)

    async def _wait_exit(self, proc: asyncio.subprocess.Process) -> int:
        """Wait for the engine to exit; kill it if it is not ready within the start timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.start_timeout_s
        while self.is_ready is not None and not self.is_ready():
            try:
                return await asyncio.wait_for(asyncio.shield(proc.wait()), timeout=1.0)
            except TimeoutError:
                if loop.time() > deadline and not self._stopping:
                    log.error("engine not ready after %.0f s; killing it", self.start_timeout_s)
                    _signal_group(proc.pid, signal.SIGKILL)
                    return await proc.wait()
        return await proc.wait()

    def start(self) -> None:
        """Start the engine and its watchdog (idempotent)."""
        if self._task is None or self._task.done():
            self._stopping = False
            self._task = asyncio.create_task(self._run(), name="engine-supervisor")

    async def stop(self, timeout_s: float = 20.0) -> None:
        """Stop the watchdog, then SIGTERM the engine's process group (SIGKILL after timeout)."""
        self._stopping = True
        proc = self.process
        if proc is not None and proc.returncode is None:
            _signal_group(proc.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), timeout_s)
            except TimeoutError:
                log.warning("engine ignored SIGTERM for %.0f s; killing", timeout_s)
                _signal_group(proc.pid, signal.SIGKILL)
                await proc.wait()
            _signal_group(proc.pid, signal.SIGKILL)  # leftovers in the group (workers)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
