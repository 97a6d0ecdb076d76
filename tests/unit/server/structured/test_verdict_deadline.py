"""Regex/grammar verdicts run in killable worker processes under a deadline, off the event loop;
what cannot be decided (deadline, matcher error, parser limit) is unchecked, never invalid."""

from __future__ import annotations

import asyncio
import time

from bench.verdict_latency import heavy_grammar, heavy_output
from server.structured import StructuredPlan
from server.structured.compiler import GrammarChecker

AMBIGUOUS = 'start: s\ns: s s | "x"\n'  # Earley: cubic; 400 x's take seconds
WIDE = "start: w\nw: " + " | ".join(f'"a{i}"' for i in range(2100)) + "\n"  # row > 2000 items


def _plan(checker: GrammarChecker, spec: str, timeout_s: float = 5.0) -> StructuredPlan:
    return StructuredPlan(kind="grammar", spec=spec, checker=checker, verdict_timeout_s=timeout_s)


def test_big_grammar_long_output_is_not_falsely_invalid() -> None:
    """The issue's case: a 40 KB grammar, a 12 KB output in its language. llguidance's parser
    stops at its row limit (right recursion), which main reported as schema_violation."""
    grammar, words = heavy_grammar(40 * 1024)
    checker = GrammarChecker(timeout_s=5, cache_size=4, verdict_timeout_s=2.0)
    try:
        checker.verdicts.start()
        start = time.monotonic()
        verdict = _plan(checker, grammar, 2.0).check(heavy_output(words, 2100), "stop")
        took = time.monotonic() - start
    finally:
        checker.close()
    assert verdict["valid"] is not False and verdict["finish_reason"] == "stop", verdict
    assert verdict["checked"] is False and verdict["reason"].startswith("unchecked: ")
    assert took < 2.0 + 1.0


def test_matcher_limit_is_unchecked_with_its_reason(service) -> None:  # type: ignore[no-untyped-def]
    verdict = _plan(service.checker, WIDE).check("a5", "stop")
    assert verdict["checked"] is False and verdict["valid"] is None
    assert verdict["finish_reason"] == "stop"
    assert "max is 2000" in verdict["reason"] and verdict["reason"].startswith("unchecked: ")


def test_mismatch_is_still_invalid(service) -> None:  # type: ignore[no-untyped-def]
    plan = _plan(service.checker, 'start: "ab" "c"')
    bad = plan.check("abd", "stop")
    assert bad["valid"] is False and bad["finish_reason"] == "schema_violation"
    assert "byte 2" in bad["errors"][0]["message"]
    short = plan.check("ab", "stop")
    assert short["valid"] is False and "ends before" in short["errors"][0]["message"]
    assert plan.check("abc", "stop")["valid"] is True


def test_deadline_kills_the_worker_and_the_next_verdict_works() -> None:
    checker = GrammarChecker(timeout_s=5, cache_size=4, verdict_timeout_s=0.5, verdict_workers=1)
    try:
        checker.verdicts.start()
        start = time.monotonic()
        slow = _plan(checker, AMBIGUOUS, 0.5).check("x" * 400, "stop")
        took = time.monotonic() - start
        checker.verdicts.timeout_s = 10.0  # the killed worker is being started again
        fast = _plan(checker, AMBIGUOUS, 10.0).check("xx", "stop")
    finally:
        checker.close()
    assert slow["checked"] is False and slow["valid"] is None and slow["finish_reason"] == "stop"
    assert slow["reason"] == "unchecked: deadline of 0.5 s passed"
    assert took < 0.5 + 1.0
    assert fast["valid"] is True


def test_a_verdict_does_not_wait_behind_a_compile(service) -> None:  # type: ignore[no-untyped-def]
    with service.checker._lock:  # a compile holds the compile worker
        verdict = _plan(service.checker, 'start: "ok"').check("ok", "stop")
    assert verdict["valid"] is True


async def test_acheck_keeps_the_event_loop_free() -> None:
    checker = GrammarChecker(timeout_s=5, cache_size=4, verdict_timeout_s=1.0)
    gaps: list[float] = []

    async def ticker(stop: asyncio.Event) -> None:
        last = time.monotonic()
        while not stop.is_set():
            await asyncio.sleep(0.01)
            gaps.append(time.monotonic() - last)
            last = time.monotonic()

    stop = asyncio.Event()
    tick = asyncio.create_task(ticker(stop))
    try:
        verdict = await _plan(checker, AMBIGUOUS, 1.0).acheck("x" * 400, "stop")
    finally:
        stop.set()
        await tick
        checker.close()
    assert verdict["reason"] == "unchecked: deadline of 1 s passed"
    assert len(gaps) > 20 and max(gaps) < 0.2, max(gaps)


async def test_acheck_deadline_covers_json_validation(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    plan = StructuredPlan(kind="json_schema", schema={"type": "object"}, verdict_timeout_s=0.1)
    monkeypatch.setattr(plan, "check", lambda text, finish, closed: time.sleep(1.5))
    start = time.monotonic()
    verdict = await plan.acheck("{}", "stop")
    assert time.monotonic() - start < 1.0
    assert verdict["checked"] is False and verdict["finish_reason"] == "stop"
    assert verdict["reason"] == "unchecked: deadline of 0.1 s passed"


def test_close_right_after_a_deadline_leaves_no_worker_behind() -> None:
    """A deadline kills the worker and restarts it in the background; a close() in between must
    not let that restart outlive the pool (it did: an orphan process after shutdown)."""
    import psutil

    def workers() -> set[int]:
        children = psutil.Process().children(recursive=True)
        return {p.pid for p in children if "structured.verdict_worker" in " ".join(p.cmdline())}

    before = workers()  # other tests' (the shared service's) workers
    checker = GrammarChecker(timeout_s=5, cache_size=4, verdict_timeout_s=0.3, verdict_workers=1)
    checker.verdicts.start()
    verdict = _plan(checker, AMBIGUOUS, 0.3).check("x" * 400, "stop")
    checker.close()
    assert verdict["checked"] is False
    time.sleep(2.0)  # the background restart, had it gone on, is done by now
    assert workers() - before == set()
