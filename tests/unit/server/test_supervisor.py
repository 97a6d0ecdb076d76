"""The supervisor restarts a dying engine with backoff and stops its whole process group."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import psutil

from server.launcher import EngineSpec
from server.supervisor import EngineSupervisor
from tests.unit.server.processes import gone_within


class _ScriptSpec(EngineSpec):
    def __init__(self, script: str) -> None:
        super().__init__(model_path="m", served_name="m", host="127.0.0.1", port=1)
        self.script = script

    def command(self) -> list[str]:
        return [sys.executable, "-c", self.script]


async def test_restarts_with_backoff() -> None:
    exits: list[int] = []
    sup = EngineSupervisor(
        _ScriptSpec("import sys; sys.exit(3)"),
        backoff_s=0.05,
        backoff_max_s=0.2,
        on_exit=exits.append,
    )
    sup.start()
    for _ in range(200):
        if sup.restarts >= 3:
            break
        await asyncio.sleep(0.05)
    await sup.stop()
    assert sup.restarts >= 3 and set(exits) == {3}


async def test_stop_kills_process_group(tmp_path: Path) -> None:
    marker = tmp_path / "child.pid"
    script = (
        "import subprocess, sys, time, pathlib;"
        "c = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)']);"
        f"pathlib.Path({str(marker)!r}).write_text(str(c.pid));"
        "time.sleep(600)"
    )
    sup = EngineSupervisor(_ScriptSpec(script), backoff_s=0.05)
    sup.start()
    for _ in range(200):
        if marker.exists() and marker.read_text():
            break
        await asyncio.sleep(0.05)
    grandchild = int(marker.read_text())
    parent = sup.pid
    await sup.stop(timeout_s=5)
    assert parent is not None and not psutil.pid_exists(parent)
    assert gone_within(grandchild, 5.0), "a process of the engine's group survived stop()"


async def test_engine_that_never_gets_ready_is_killed_and_restarted() -> None:
    exits: list[int] = []
    sup = EngineSupervisor(
        _ScriptSpec("import time; time.sleep(600)"),
        backoff_s=0.05,
        on_exit=exits.append,
        is_ready=lambda: False,
        start_timeout_s=0.5,
    )
    sup.start()
    for _ in range(100):
        if sup.restarts >= 1:
            break
        await asyncio.sleep(0.05)
    await sup.stop(timeout_s=5)
    assert sup.restarts >= 1 and exits[0] == -9
