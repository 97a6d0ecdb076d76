"""The two servers `bench bfcl` compares, started (and stopped) here unless given by URL.

- structserve: `python -m server.cli serve` as a user runs it (its own supervised engine), with
  `PYTHONPATH` set to the structserve source to test (default: this checkout).
- vLLM direct: the very engine `structserve serve` would start (`server.serve.engine_spec` on
  default settings: `--enforce-eager`, `--max-model-len`, `VLLM_CPU_KVCACHE_SPACE`, the
  structured-outputs config, ...) plus vLLM's own tool calling: `--enable-auto-tool-choice
  --tool-call-parser hermes --chat-template bench/templates/smollm2_tools.jinja`, and
  `--trust-request-chat-template` so the parity preflight can render the model's own template.
  vLLM 0.32 enforces `strict: true` tools itself with a structural tag (`VLLM_ENFORCE_STRICT_TOOL_
  CALLING`, on by default); the guidance backend structserve configures refuses that tag (400
  "Invalid grammar specification: 'triggers'"), so the `vllm-xgrammar` variant runs the same
  engine with the xgrammar backend instead.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bench.bfcl_prompt import TEMPLATE
from server.launcher import EngineSpec, running_engine, spawn, stop, wait_healthy
from server.serve import engine_spec, resolve_model
from server.settings import Settings, load_settings
from server.speculative import resolve_speculation

TOOL_ARGS = (
    "--enable-auto-tool-choice",
    "--tool-call-parser",
    "hermes",
    "--chat-template",
    str(TEMPLATE),
    "--trust-request-chat-template",
)
"""vLLM direct's tool-calling flags, added after structserve's engine flags."""


@dataclass(frozen=True)
class Server:
    """A running target: its root URL, served model name and model folder."""

    url: str
    model: str
    model_dir: Path | None


def vllm_direct_spec(settings: Settings) -> tuple[EngineSpec, Path]:
    """structserve's engine for `settings` plus vLLM's tool flags; returns (spec, model folder)."""
    model = resolve_model(settings)
    spec = engine_spec(settings, model, resolve_speculation(settings, model.path))
    spec.extra_args = [*spec.extra_args, *TOOL_ARGS]
    return spec, model.path


XGRAMMAR_CONFIG = '{"backend": "xgrammar", "disable_any_whitespace": true}'
"""The structured-outputs config of the `vllm-xgrammar` target (vLLM's default backend)."""


@contextlib.contextmanager
def vllm_direct(
    port: int,
    log_path: Path,
    *,
    structured_outputs_config: str | None = None,
    ready_timeout_s: float = 900.0,
) -> Iterator[Server]:
    """Start vLLM direct on `port` (structserve's default model and engine flags); stop on exit.

    Args:
        port: the engine's port.
        log_path: its output.
        structured_outputs_config: replaces structserve's `--structured-outputs-config` (None:
            keep it: the guidance backend).
        ready_timeout_s: how long it may take to answer /health.
    """
    overrides: dict[str, object] = {"engine_port": port}
    if structured_outputs_config is not None:
        overrides["structured_outputs_config"] = structured_outputs_config
    settings = load_settings(overrides)
    spec, folder = vllm_direct_spec(settings)
    with running_engine(spec, log_path, ready_timeout_s=ready_timeout_s) as engine:
        yield Server(engine.url, spec.served_name, folder)


@contextlib.contextmanager
def structserve(
    port: int,
    engine_port: int,
    log_path: Path,
    *,
    source: Path | None = None,
    ready_timeout_s: float = 900.0,
) -> Iterator[Server]:
    """Start `structserve serve` (default model) on `port`, its engine on `engine_port`.

    Args:
        port: the gateway's port.
        engine_port: its supervised engine's port.
        log_path: the gateway's (and engine's) output.
        source: the structserve source folder put first on PYTHONPATH (None: this checkout's).
        ready_timeout_s: how long it may take to answer /ready.
    """
    settings = load_settings({})
    env = dict(os.environ)
    root = source or Path(__file__).resolve().parent.parent
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(root), env.get("PYTHONPATH")) if p)
    cmd = [sys.executable, "-m", "server.cli", "serve", "--port", str(port)]
    cmd += ["--engine-port", str(engine_port)]
    proc = spawn(cmd, env=env, log_path=log_path)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(proc, url, timeout_s=ready_timeout_s, log_path=log_path, path="/ready")
        yield Server(url, settings.served_model_name or settings.model, None)
    finally:
        stop(proc, timeout_s=60.0)
