"""Compile grammars in a child process with a deadline, and cache the verdicts by hash; match
outputs in separate verdict workers (`verdict_worker.py`).

llguidance is fast and bounds itself, but a deadline the gateway enforces by killing a process is
the only bound that cannot fail: a runaway compile never blocks the event loop or the GIL.
"""

from __future__ import annotations

import hashlib
import json
import sys
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from server.structured.line_worker import LineWorker
from server.structured.verdict_worker import Match, VerdictPool


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
    from grammar import llg

    tokenizer = llg.byte_tokenizer()
    print(json.dumps("ready"), flush=True)
    for line in sys.stdin:
        kind, spec = json.loads(line)
        print(json.dumps(llg.compile_grammar(tokenizer, kind, spec)), flush=True)


class GrammarChecker:
    """The llguidance worker processes: one compile worker (one call at a time, restarted after a
    timeout) and a pool of verdict workers, so a verdict never waits behind a compile."""

    def __init__(
        self,
        *,
        timeout_s: float,
        cache_size: int,
        verdict_timeout_s: float = 5.0,
        verdict_workers: int = 2,
    ) -> None:
        """Args: timeout_s: deadline of one compile; cache_size: verdicts kept;
        verdict_timeout_s: deadline of one output check; verdict_workers: processes matching."""
        self._timeout_s = timeout_s
        self._cache_size = cache_size
        self._cache: OrderedDict[str, CompileVerdict] = OrderedDict()
        self._lock = threading.Lock()
        self._worker = LineWorker("server.structured.compiler")
        self.verdicts = VerdictPool(timeout_s=verdict_timeout_s, workers=verdict_workers)

    @property
    def timeout_s(self) -> float:
        """Deadline of one compile, in seconds."""
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
        try:
            with self._lock:
                answer = self._worker.call([kind, spec], self._timeout_s)
        except (TimeoutError, ChildProcessError):
            seconds = time.perf_counter() - start
            return CompileVerdict("compile timed out", seconds=seconds, timed_out=True)
        verdict = CompileVerdict(answer[0], list(answer[1]), time.perf_counter() - start)
        with self._lock:
            self._cache[key] = verdict
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return verdict

    def match(self, kind: str, spec: Any, text: str) -> Match:
        """Whether `text` is in the constraint's language, decided by a verdict worker within
        the verdict deadline (blocking; see `VerdictPool.match`)."""
        return self.verdicts.match(kind, spec, text)

    def start(self) -> None:
        """Start the compile worker now (it otherwise starts on first use)."""
        with self._lock:
            self._worker.start()

    def close(self) -> None:
        """Stop the compile worker and the verdict workers."""
        with self._lock:
            self._worker.close()
        self.verdicts.close()


if __name__ == "__main__":
    _serve()
