"""Fixtures: ONE real gateway + vLLM engine (SmolLM2-135M) shared by the session, and a gateway
of its own for each destructive test.

`gateway` starts `structserve serve` as a child process exactly as a user would (the CLI, the
supervisor, the real engine) and stops it at the end. `attach_gateway` starts extra gateways
(other settings, e.g. API keys) attached to the same engine with `--engine-url`: no new engine.

`own_gateway` is for destructive tests (they hang, kill or stop the engine or the gateway): a
gateway that no other test uses (GatewayPool). Whatever the order, a destructive test cannot break
the session's gateway; collecting the destructive tests last only saves engine starts.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import pytest

from tests.integration.gateways import (
    Gateway,
    GatewayPool,
    attached,
    start_default_gateway,
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything under tests/integration is an integration test; destructive tests go last
    (stable), so that they can take over the session's gateway once no other test needs it."""
    for item in items:
        if "tests/integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)
    items.sort(key=lambda item: "own_gateway" in getattr(item, "fixturenames", ()))


@pytest.fixture(scope="session")
def gateway_pool(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayPool]:
    """The default-model gateways of the session (shared and destructive), stopped at its end."""
    pool = GatewayPool(lambda name: start_default_gateway(tmp_path_factory.mktemp(name)))
    try:
        yield pool
    finally:
        for gw in pool.close():
            print(f"\n--- gateway log tail ({gw.log_path}) ---\n{gw.log_tail(20)}")


@pytest.fixture(scope="session")
def gateway(gateway_pool: GatewayPool) -> Gateway:
    """The session's gateway over the real vLLM engine serving SmolLM2-135M-Instruct."""
    return gateway_pool.shared()


@pytest.fixture
def own_gateway(gateway_pool: GatewayPool, request: pytest.FixtureRequest) -> Gateway:
    """A gateway + engine no other test uses, for a test that hangs, kills or stops it."""
    return gateway_pool.own(request.node)


@pytest.fixture(scope="session")
def attach_gateway(
    gateway: Gateway, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., Gateway]]:
    """Factory: another gateway with extra flags, attached to the session's engine."""
    with contextlib.ExitStack() as stack:

        def make(*extra: str) -> Gateway:
            log_dir = tmp_path_factory.mktemp("attached")
            return stack.enter_context(attached(gateway, log_dir, *extra))

        yield make
