"""Resident memory and open file descriptors of a server's process trees, sampled over time.

A server is named by pids or by the TCP port it listens on. Each named process is a tree root:
the root itself counts as "gateway", its descendants (a supervised vLLM engine, its core and
workers) as "engine"; pids given as engines count whole as "engine". RSS is summed over
processes, so pages they share are counted in each (an overstatement, steady over a run).
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import psutil


@dataclass(frozen=True)
class ProcSample:
    """One reading of the trees.

    Attributes:
        t: seconds since the sampler started.
        gateway_rss: bytes, the root processes.
        engine_rss: bytes, their descendants and the engine pids.
        gateway_fds: open file descriptors of the roots.
        engine_fds: open file descriptors of the rest.
        processes: number of live processes sampled.
    """

    t: float
    gateway_rss: int
    engine_rss: int
    gateway_fds: int
    engine_fds: int
    processes: int


def pid_listening_on(url: str) -> int:
    """The pid of the process listening on `url`'s TCP port on this machine.

    Raises:
        LookupError: nothing here listens on that port (or its owner is not visible).
    """
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    for conn in psutil.net_connections(kind="tcp"):
        listening = conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port
        if listening and conn.pid is not None:
            return int(conn.pid)
    raise LookupError(f"no visible process listens on port {port} (pass --pid)")


def _usage(proc: psutil.Process) -> tuple[int, int]:
    with contextlib.suppress(psutil.Error), proc.oneshot():
        return proc.memory_info().rss, proc.num_fds()
    return 0, 0


class ProcSampler:
    """Samples the trees rooted at `roots` (gateway + descendants) and `engines` (whole)."""

    def __init__(self, roots: Sequence[int], engines: Sequence[int] = ()) -> None:
        self.roots = [psutil.Process(pid) for pid in roots]
        self.engines = [psutil.Process(pid) for pid in engines]
        self.samples: list[ProcSample] = []
        self._t0 = time.monotonic()

    def _engine_procs(self) -> list[psutil.Process]:
        procs: list[psutil.Process] = []
        for proc in [*self.roots, *self.engines]:
            with contextlib.suppress(psutil.Error):
                procs += proc.children(recursive=True)
        return [*self.engines, *procs]

    def sample(self) -> ProcSample:
        """Read every process once; appends to and returns the new sample."""
        gateway = [_usage(p) for p in self.roots]
        engine = [_usage(p) for p in self._engine_procs()]
        live = sum(1 for rss, _ in gateway + engine if rss)
        reading = ProcSample(
            t=round(time.monotonic() - self._t0, 2),
            gateway_rss=sum(rss for rss, _ in gateway),
            engine_rss=sum(rss for rss, _ in engine),
            gateway_fds=sum(fds for _, fds in gateway),
            engine_fds=sum(fds for _, fds in engine),
            processes=live,
        )
        self.samples.append(reading)
        return reading


FIELDS = ("gateway_rss", "engine_rss", "gateway_fds", "engine_fds")


def growth(samples: Sequence[ProcSample], *, settle_share: float = 0.1, window: int = 5) -> dict:
    """How much each quantity grew over a run, robust to single-sample noise.

    The level after the settle phase (median of the first `window` samples once `settle_share`
    of the run has passed: caches and pools are warm by then) is compared with the level at
    the end (median of the last `window` samples).

    Returns:
        `{field: {"start", "end", "growth", "max"}}` for every field of `FIELDS`; empty when
        there are fewer than two samples.
    """
    if len(samples) < 2:
        return {}
    span = samples[-1].t - samples[0].t
    settled = [s for s in samples if s.t - samples[0].t >= settle_share * span]
    head = settled[:window] if len(settled) > window else samples[:window]
    tail = samples[-window:]
    out: dict[str, Any] = {}
    for name in FIELDS:
        start = statistics.median(getattr(s, name) for s in head)
        end = statistics.median(getattr(s, name) for s in tail)
        out[name] = {
            "start": start,
            "end": end,
            "growth": end - start,
            "max": max(getattr(s, name) for s in samples),
        }
    return out
