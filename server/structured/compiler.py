"""Compile grammars in a child process with a deadline, and cache the verdicts by hash.

llguidance is fast and bounds itself, but a deadline the gateway enforces by killing a process is
the only bound that cannot fail: a runaway compile never blocks the event loop or the GIL.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any


_START_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class CompileVerdict:
    """What compiling one constraint with the backend said."""

    error: str | None
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0
    cached: bool = False
    timed_out: bool = False


def _worker(conn: Connection) -> None:
    from server.structured import llg

    tokenizer = llg.byte_tokenizer()
    conn.send("ready")
    while True:
        try:
            op, kind, spec, text = conn.recv()
        except EOFError:
            return
        if op == "compile":
            conn.send(llg.compile_grammar(tokenizer, kind, spec))
        else:
            conn.send(llg.matches(tokenizer, kind, spec, text))


class GrammarChecker:
    """One llguidance worker process, used one call at a time, restarted after a timeout."""

    def __init__(self, *, timeout_s: float, cache_size: int) -> None:
        """Args: timeout_s: deadline of one compile or match; cache_size: verdicts kept."""
        self._timeout_s = timeout_s
        self._cache_size = cache_size
        self._cache: OrderedDict[str, CompileVerdict] = OrderedDict()
        self._lock = threading.Lock()
        self._proc: BaseProcess | None = None
        self._conn: Connection | None = None

    def compile(self, kind: str, spec: Any) -> CompileVerdict:
        """Compile a constraint (or answer from the cache).

        Args:
            kind: "json", "regex", "choice" or "grammar".
            spec: the constraint (a schema already carrying its x-guidance options).

        Returns:
            The verdict; `timed_out` when the deadline passed (the worker is then restarted).
        """
        key = hashlib.sha256(json.dumps([kind, spec], sort_keys=True).encode()).hexdigest()
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return CompileVerdict(hit.error, hit.warnings, hit.seconds, cached=True)
        start = time.perf_counter()
        answer = self._call(("compile", kind, spec, None))
        seconds = time.perf_counter() - start
        if answer is None:
            return CompileVerdict("compile timed out", seconds=seconds, timed_out=True)
        verdict = CompileVerdict(answer[0], answer[1], seconds)
        with self._lock:
            self._cache[key] = verdict
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return verdict

    def matches(self, kind: str, spec: Any, text: str) -> bool | None:
        """Whether `text` is in the constraint's language; None when the deadline passed."""
        answer = self._call(("match", kind, spec, text))
        return None if answer is None else bool(answer)

    def _call(self, job: tuple[str, str, Any, str | None]) -> Any:
        with self._lock:
            conn = self._ensure()
            conn.send(job)
            if conn.poll(self._timeout_s):
                return conn.recv()
            self._kill()
            return None

    def _ensure(self) -> Connection:
        if self._proc is None or not self._proc.is_alive() or self._conn is None:
            self._kill()
            ctx = multiprocessing.get_context("spawn")
            parent, child = ctx.Pipe()
            self._proc = ctx.Process(target=_worker, args=(child,), daemon=True, name="llg-check")
            self._proc.start()
            child.close()
            self._conn = parent
            if not parent.poll(_START_TIMEOUT_S) or parent.recv() != "ready":
                self._kill()
                raise RuntimeError("the llguidance worker process did not start")
        return self._conn

    def _kill(self) -> None:
        if self._proc is not None and self._proc.is_alive():
            self._proc.kill()
            self._proc.join(timeout=5)
        if self._conn is not None:
            self._conn.close()
        self._proc, self._conn = None, None

    def start(self) -> None:
        """Start the worker now (it otherwise starts on first use)."""
        with self._lock:
            self._ensure()

    def close(self) -> None:
        """Stop the worker process."""
        with self._lock:
            self._kill()
