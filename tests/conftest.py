"""Session guard: no process started by a test outlives the test session.

A leaked child (an engine a test failed to stop, a worker stuck on a lock) keeps the CI job's
output pipe open, so the job waits for it until the CI limit instead of ending with the pytest
result. At the end of the session every descendant still alive is named in the report and
killed (SIGTERM, then SIGKILL after a grace period).
"""

from __future__ import annotations

import contextlib

import psutil
import pytest

GRACE_S = 10.0


def _describe(proc: psutil.Process) -> str:
    try:
        return f"pid {proc.pid}: {' '.join(proc.cmdline())[:200]}"
    except psutil.Error:
        return f"pid {proc.pid}: (gone)"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Name and stop the processes the tests left behind."""
    leftovers = psutil.Process().children(recursive=True)
    if not leftovers:
        return
    names = [_describe(p) for p in leftovers]
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.ensure_newline()
        reporter.write_sep("=", f"{len(leftovers)} process(es) left by the tests, stopped")
        for name in names:
            reporter.write_line(name)
    for proc in leftovers:
        with contextlib.suppress(psutil.Error):
            proc.terminate()
    _gone, alive = psutil.wait_procs(leftovers, timeout=GRACE_S)
    for proc in alive:
        with contextlib.suppress(psutil.Error):
            proc.kill()
