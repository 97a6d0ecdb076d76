"""Starts vLLM's OpenAI server as a child process, restarts it when it dies, stops it cleanly.

The child is spawned by server.launcher in its own session (process group): Ctrl-C and SIGTERM
reach only the gateway, which drains in-flight requests first and then stops the whole engine
group. The engine's command line is a `server.launcher.EngineSpec`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable

from server.launcher import EngineSpec, signal_group, spawn_async, stop_async

log = logging.getLogger("structserve.supervisor")


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

    async def _run(self) -> None:
        delay = self.backoff_s
        while not self._stopping:
            started = asyncio.get_running_loop().time()
            log.info("starting engine: %s", " ".join(self.spec.command()))
            self.spec.prepare()
            self.process = await spawn_async(self.spec.command(), env=self.spec.environment())
            code = await self._wait_exit(self.process)
            signal_group(self.process.pid, signal.SIGKILL)  # workers left in its group
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
                    signal_group(proc.pid, signal.SIGKILL)
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
            await stop_async(proc, timeout_s=timeout_s)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
