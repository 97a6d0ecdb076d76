"""GatewayPool (no engine): a destructive test never gets a gateway another test still uses."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from tests.integration.gateways import GatewayPool


def _session(*uses: tuple[str, ...]) -> list[Any]:
    """Fake items in run order, each with the fixtures it uses."""
    session = SimpleNamespace(items=[])
    session.items = [SimpleNamespace(session=session, fixturenames=list(u)) for u in uses]
    return session.items


def _pool(alive: set[str]) -> tuple[GatewayPool, list[str], list[str]]:
    started: list[str] = []
    stopped: list[str] = []

    def start(name: str) -> Any:
        started.append(f"{name}-{len(started)}")
        alive.add(started[-1])
        return started[-1]

    pool = GatewayPool(
        start,
        serving=lambda gw: gw in alive,  # type: ignore[arg-type]
        stopper=lambda gw: stopped.append(gw),  # type: ignore[arg-type,func-returns-value]
    )
    return pool, started, stopped


def test_destructive_tests_last_take_over_the_shared_gateway() -> None:
    items = _session(("gateway",), ("gateway",), ("own_gateway",), ("own_gateway",))
    alive: set[str] = set()
    pool, started, _ = _pool(alive)
    shared = pool.shared()
    assert pool.own(items[2]) == shared  # no test from here on uses the shared gateway
    assert pool.own(items[3]) == shared  # the first left it serving
    assert started == ["gateway-0"]  # no engine started for the destructive tests


def test_destructive_test_first_gets_its_own_gateway() -> None:
    items = _session(("own_gateway",), ("gateway",), ("own_gateway",), ("gateway",))
    alive: set[str] = set()
    pool, started, stopped = _pool(alive)
    own = pool.own(items[0])
    assert own != pool.shared()
    alive.discard(own)  # the destructive test stopped it
    again = pool.own(items[2])
    assert again not in (own, pool.shared()) and stopped == [own]
    assert started == ["own-gateway-0", "gateway-1", "own-gateway-2"]
    assert pool.close() == started and stopped == [own, *started]
