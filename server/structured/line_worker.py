"""A child process that answers one JSON line per job, killed when a job outlives its deadline.

The compile worker (`compiler.py`) and the verdict workers (`verdict_worker.py`) are each one of
these: a deadline enforced by killing a process is the only bound that cannot fail, and a runaway
job never holds the gateway's event loop or GIL.
"""

from __future__ import annotations

import json
import select
import subprocess
import sys
import time
from typing import Any

START_TIMEOUT_S = 60.0


class LineWorker:
    """`python -m MODULE` speaking JSON lines; one job at a time (callers serialize access)."""

    def __init__(self, module: str) -> None:
        """Args: module: the module whose `__main__` prints "ready", then answers each line."""
        self._module = module
        self._proc: subprocess.Popen[str] | None = None

    def call(self, job: Any, timeout_s: float) -> Any:
        """Send one job and wait for its answer.

        Args:
            job: any JSON value.
            timeout_s: the deadline; past it the process is killed (restarted on next use).

        Returns:
            The decoded answer.

        Raises:
            TimeoutError: the deadline passed (the process was killed).
            ChildProcessError: the process exited or could not start.
        """
        start = time.monotonic()
        proc = self.start()
        assert proc.stdin is not None
        try:
            proc.stdin.write(json.dumps(job) + "\n")
            proc.stdin.flush()
        except OSError:
            self.close()
            raise ChildProcessError(f"the {self._module} worker exited") from None
        remaining = max(0.0, timeout_s - (time.monotonic() - start))
        ready, line = self._read(proc, remaining)
        if not ready:
            self.close()
            raise TimeoutError(f"no answer within {timeout_s:g} s")
        if not line:
            self.close()
            raise ChildProcessError(f"the {self._module} worker exited")
        return json.loads(line)

    @staticmethod
    def _read(proc: subprocess.Popen[str], timeout_s: float) -> tuple[bool, str]:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], timeout_s)
        return bool(ready), proc.stdout.readline() if ready else ""

    def start(self) -> subprocess.Popen[str]:
        """Start the process unless it runs; returns it.

        Raises:
            ChildProcessError: it did not say "ready" within START_TIMEOUT_S.
        """
        if self._proc is None or self._proc.poll() is not None:
            self.close()
            self._proc = subprocess.Popen(
                [sys.executable, "-m", self._module],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
                bufsize=1,
            )
            ready, line = self._read(self._proc, START_TIMEOUT_S)
            if not ready or not line or json.loads(line) != "ready":
                self.close()
                raise ChildProcessError(f"the {self._module} worker process did not start")
        return self._proc

    def close(self) -> None:
        """Kill the process (if any) and reap it."""
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.kill()
            self._proc.wait(timeout=5)
        self._proc = None
