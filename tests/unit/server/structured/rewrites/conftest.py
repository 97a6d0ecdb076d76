"""The rewrite tests share one cached policy backend (exactness.backend); its worker processes
are stopped when the session ends."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.unit.server.structured.rewrites.exactness import close_backend


@pytest.fixture(scope="session", autouse=True)
def _stop_shared_backend() -> Iterator[None]:
    yield
    close_backend()
