"""Compile grammars in a child process with a deadline, and cache the verdicts by hash.

llguidance is fast and bounds itself, but a deadline the gateway enforces by killing a process is
the only bound that cannot fail: a runaway compile never blocks the event loop or the GIL.
"""

from __future__ import annotations

import hashlib
import json
import select
import subprocess
import sys
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
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


def _serve() -> None:
    """Worker loop: one JSON [kind, spec] per stdin line, one JSON [error, warnings] per line."""
    from server.structured import llg

    tokenizer = llg.byte_tokenizer()
    print(json.dumps("ready"), flush=True)
    for line in sys.stdin:
        kind, spec = json.loads(line)
        print(json.dumps(llg.compile_grammar(tokenizer, kind, spec)), flush=True)


class GrammarChecker:
    """One llguidance worker process, used one call at a time, restarted after a timeout."""

    def __init__(self, *, timeout_s: float, cache_size: int) -> None:
        """Args: timeout_s: deadline of one compile or match; cache_size: verdicts kept."""
        self._timeout_s = timeout_s
        self._cache_size = cache_size
        self._cache: OrderedDict[str, CompileVerdict] = OrderedDict()
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[str] | None = None
        self._tokenizer: Any = None

    @property
    def timeout_s(self) -> float:
        """Deadline of one compile or match, in seconds."""
        return self._timeout_s

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
        answer = self._call((kind, spec))
        seconds = time.perf_counter() - start
        if answer is None:
            return CompileVerdict("compile timed out", seconds=seconds, timed_out=True)
        verdict = CompileVerdict(answer[0], list(answer[1]), seconds)
        with self._lock:
            self._cache[key] = verdict
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return verdict

    def matches(self, kind: str, spec: Any, text: str) -> bool:
        """Whether `text` is in the constraint's language, matched in this process (the grammar
        already compiled within bounds in the worker; matching is linear in the text), so a
        verdict never waits behind another request's compile."""
        from server.structured import llg

        if self._tokenizer is None:
            self._tokenizer = llg.byte_tokenizer()
        return llg.matches(self._tokenizer, kind, spec, text)

    def _call(self, job: tuple[str, Any]) -> Any:
        with self._lock:
            proc = self._ensure()
            assert proc.stdin is not None
            proc.stdin.write(json.dumps(job) + "\n")
            proc.stdin.flush()
            answer = self._read(proc, self._timeout_s)
            if answer is None:
                self._kill()
            return answer

    @staticmethod
    def _read(proc: subprocess.Popen[str], timeout_s: float) -> Any:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], timeout_s)
        line = proc.stdout.readline() if ready else ""
        return json.loads(line) if line else None

    def _ensure(self) -> subprocess.Popen[str]:
        if self._proc is None or self._proc.poll() is not None:
            self._kill()
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "server.structured.compiler"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
                bufsize=1,
            )
            if self._read(self._proc, _START_TIMEOUT_S) != "ready":
                self._kill()
                raise RuntimeError("the llguidance worker process did not start")
        return self._proc

    def _kill(self) -> None:
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.kill()
            self._proc.wait(timeout=5)
        self._proc = None

    def start(self) -> None:
        """Start the worker now (it otherwise starts on first use)."""
        with self._lock:
            self._ensure()

    def close(self) -> None:
        """Stop the worker process."""
        with self._lock:
            self._kill()


if __name__ == "__main__":
    _serve()
