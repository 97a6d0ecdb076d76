"""One llguidance compile worker for the whole structured-output unit suite."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from server.structured import StructuredService


@pytest.fixture(scope="session")
def service() -> Iterator[StructuredService]:
    svc = StructuredService()
    svc.start()
    yield svc
    svc.close()
