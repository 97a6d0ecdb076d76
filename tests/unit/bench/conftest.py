"""Fixtures of the harness's unit tests: the in-process fake OpenAI-compatible server."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.unit.bench.fake_openai import FakeServer


@pytest.fixture
async def fake() -> AsyncIterator[FakeServer]:
    """A fake streaming server on an ephemeral 127.0.0.1 port."""
    server = await FakeServer().start()
    try:
        yield server
    finally:
        await server.stop()
