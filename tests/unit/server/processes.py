"""Process helpers for the launcher and supervisor tests."""

from __future__ import annotations

import time

import psutil


def gone_within(pid: int, timeout_s: float) -> bool:
    """True once `pid` has exited (or is a zombie) within `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)
    return False
