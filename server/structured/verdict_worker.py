"""Check finished regex/grammar outputs in worker processes, each verdict under a deadline.

Matching a long output against a big grammar can take seconds (llguidance's Earley parser is
quadratic on right-recursive grammars) and can end in a parser limit rather than an answer. The
gateway therefore matches in a pool of child processes separate from the compile worker (a
verdict never waits behind a compile), kills a worker at the deadline, and reports what could
not be decided as unchecked, never as invalid.
"""

from __future__ import annotations

import json
import os
import queue
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

from server.structured.line_worker import LineWorker

MODULE = "server.structured.verdict_worker"
NICENESS = 10
"""Verdict workers run at a lower CPU priority: on a busy host the gateway's event loop (and the
engine) go first, and a long match only finishes later (or is unchecked at the deadline)."""


@dataclass(frozen=True)
class Match:
    """One verdict: `valid` None when it could not be decided; `reason` says why (or why not)."""

    valid: bool | None
    reason: str = ""


def unchecked_deadline(timeout_s: float) -> str:
    """The reason every verdict that ran out of time gives."""
    return f"unchecked: deadline of {timeout_s:g} s passed"


def _serve() -> None:
    """Worker loop: one JSON [kind, spec, text] per stdin line, one [valid, reason] per line."""
    from grammar import llg

    os.nice(NICENESS)
    tokenizer = llg.byte_tokenizer()
    print(json.dumps("ready"), flush=True)
    for line in sys.stdin:
        kind, spec, text = json.loads(line)
        try:
            answer = llg.match(tokenizer, kind, spec, text)
        except (ValueError, TypeError, KeyError) as exc:
            answer = (None, f"matcher error: {exc}")
        print(json.dumps(answer), flush=True)


class VerdictPool:
    """A fixed set of verdict worker processes, started on first use; thread-safe."""

    def __init__(self, *, timeout_s: float, workers: int = 2) -> None:
        """Args: timeout_s: deadline of one verdict, waiting for a free worker included;
        workers: how many processes match at once."""
        self.timeout_s = timeout_s
        self._all = [LineWorker(MODULE) for _ in range(workers)]
        self._lock = threading.Lock()  # a respawn and close() never interleave
        self._epoch = 0  # bumped by close(): a respawn asked for before it does nothing
        self._free: queue.Queue[LineWorker] = queue.Queue()
        for worker in self._all:
            self._free.put(worker)

    def match(self, kind: str, spec: Any, text: str) -> Match:
        """Match `text` against a regex or grammar (blocking; call it from a thread).

        Args:
            kind: "regex" or "grammar" (also "choice" or "json").
            spec: the constraint.
            text: the whole output.

        Returns:
            The verdict; `valid` None with an "unchecked: …" reason when the deadline passed,
            the worker died or the matcher failed.
        """
        deadline = time.monotonic() + self.timeout_s
        try:
            worker = self._free.get(timeout=self.timeout_s)
        except queue.Empty:
            return Match(None, unchecked_deadline(self.timeout_s))
        try:
            valid, reason = worker.call([kind, spec, text], max(0.0, deadline - time.monotonic()))
        except (TimeoutError, ChildProcessError) as exc:
            respawn = threading.Thread(target=self._respawn, args=(worker, self._epoch))
            respawn.daemon = True
            respawn.start()
            if isinstance(exc, TimeoutError):
                return Match(None, unchecked_deadline(self.timeout_s))
            return Match(None, f"unchecked: {exc}")
        self._free.put(worker)
        return Match(valid, f"unchecked: {reason}" if valid is None else reason)

    def _respawn(self, worker: LineWorker, epoch: int) -> None:
        """Start a killed worker again off the request path, then hand it back to the pool
        (unless the pool was closed since: a process started after close() would outlive it)."""
        try:
            with self._lock:
                if epoch == self._epoch:
                    worker.start()
        except ChildProcessError:
            pass  # it starts again on its next job
        finally:
            self._free.put(worker)

    def start(self) -> None:
        """Start every worker now (otherwise each starts on its first verdict, which then
        spends part of its deadline on the start)."""
        for worker in self._all:
            worker.start()

    def close(self) -> None:
        """Stop every worker (they restart on next use)."""
        with self._lock:
            self._epoch += 1
            for worker in self._all:
                worker.close()


if __name__ == "__main__":
    _serve()
