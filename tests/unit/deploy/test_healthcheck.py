"""deploy/docker/healthcheck.py (the image's HEALTHCHECK) against a local HTTP server."""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import ModuleType

import pytest

from tests.unit.deploy.conftest import DEPLOY


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "healthcheck", DEPLOY / "docker" / "healthcheck.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/health" else 503)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def port() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_healthy_unhealthy_and_down(port: int, monkeypatch: pytest.MonkeyPatch) -> None:
    check = _load()
    assert check.main(["/health", "--port", str(port)]) == 0
    assert check.main(["/ready", "--port", str(port)]) == 1
    monkeypatch.setenv("STRUCTSERVE_PORT", str(port))
    assert check.main([]) == 0, "default: /health on $STRUCTSERVE_PORT"
    closed = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    free_port = closed.server_address[1]
    closed.server_close()
    assert check.main(["/health", "--port", str(free_port), "--timeout", "1"]) == 1
