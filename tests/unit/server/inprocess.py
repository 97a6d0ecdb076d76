"""A gateway over one fake engine behind a synchronous TestClient (lifespan running), for tests
that send many requests to one app (fuzzing) and for module-scoped fixtures."""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from starlette.testclient import TestClient

from server.app import build_app
from server.engines import EnginePool
from server.settings import Settings
from tests.unit.server.conftest import _Router
from tests.unit.server.fake_engine import make_engine


@contextlib.contextmanager
def gateway_client(**overrides: Any) -> Iterator[TestClient]:
    """Yield a TestClient for a ready gateway over the fake engine "fake-model"."""
    engines = {"engine-a": make_engine()}
    client = httpx.AsyncClient(transport=_Router(engines))
    pool = EnginePool(["http://engine-a"], client=client, probe_interval_s=0.05)
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory())
        # stored responses and choice sets never land in the user's cache
        overrides.setdefault("responses_db", Path(tmp) / "responses.sqlite")
        overrides.setdefault("choice_sets_dir", Path(tmp) / "choice_sets")
        app = build_app(Settings(**{"health_interval_s": 0.05, **overrides}), pool)
        tc = stack.enter_context(TestClient(app, raise_server_exceptions=False))
        deadline = time.monotonic() + 10
        while tc.get("/ready").status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.05)
        yield tc


def check_error_answer(response: httpx.Response) -> None:
    """No 5xx; a 4xx is {"error": {"message": str, "type": str, "param": str|None, "code": ...}}."""
    assert response.status_code < 500, response.text[:500]
    if response.status_code < 400:
        return
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}, error
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["type"], str)
    assert error["param"] is None or isinstance(error["param"], str)
    assert error["code"] is None or isinstance(error["code"], str)
