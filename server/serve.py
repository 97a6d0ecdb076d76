"""`structserve serve`: resolve the model, start the engine supervisor and the gateway."""

from __future__ import annotations

import logging
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from pydantic import ValidationError

from choice_sets.store import DIR_ENV as CHOICE_SETS_DIR_ENV
from model_loaders.catalog import CATALOG, is_pulled, model_dir, read_marker
from model_loaders.checkpoint.describe import describe_folder
from model_loaders.checkpoint.errors import CheckpointError
from model_loaders.checkpoint.preflight import preflight
from model_loaders.vllm.native_config import native_engine_args
from server.app import build_app
from server.cli_args import build_parser, cli_values, split_engine_args
from server.cpu_layout import cpu_layout_env
from server.engines import EnginePool, ModelCard
from server.gateway_metrics import GatewayMetrics
from server.launcher import EngineSpec
from server.settings import Settings, load_settings
from server.speculative import Speculation, SpeculationError, resolve_speculation
from server.supervisor import EngineSupervisor

log = logging.getLogger("structserve.serve")


class ServeError(RuntimeError):
    """`serve` cannot start (bad model, failed pull)."""


@dataclass(frozen=True)
class ResolvedModel:
    """A model folder on disk and the name clients use for it."""

    path: Path
    name: str
    card: ModelCard


def pull_catalog_model(name: str, settings: Settings) -> Path:
    """Pull a catalog model in a child process (the gateway never imports torch)."""
    python = settings.engine_python or sys.executable
    cmd = [python, "-m", "model_loaders.catalog.pull", name, "--cache-dir", str(settings.cache_dir)]
    log.info("pulling %s into %s", name, settings.cache_dir)
    proc = subprocess.run(cmd, check=False, stdout=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        raise ServeError(f"pulling {name} failed (exit {proc.returncode})")
    return Path(proc.stdout.strip().splitlines()[-1])


def resolve_model(settings: Settings) -> ResolvedModel:
    """Find (pulling when needed) the folder `settings.model` names."""
    if settings.model in CATALOG:
        folder = model_dir(settings.cache_dir, settings.model)
        if not is_pulled(settings.cache_dir, settings.model):
            folder = pull_catalog_model(settings.model, settings)
        marker = read_marker(folder) or {}
        name = settings.served_model_name or settings.model
        source = str(marker.get("source") or folder)
    else:
        folder = Path(settings.model).expanduser().resolve()
        if not (folder / "config.json").is_file():
            known = ", ".join(sorted(CATALOG))
            raise ServeError(
                f"--model {settings.model!r} is neither a catalog model ({known}) "
                "nor a folder with a config.json"
            )
        name = settings.served_model_name or folder.name
        source = str(folder)
    try:
        preflight(folder)  # before any engine sees the folder
    except (CheckpointError, OSError) as exc:
        raise ServeError(f"model folder {folder} refused: {exc}") from exc
    info = describe_folder(folder)
    extra = {k: v for k, v in info.items() if k not in ("format", "compression_ratio")}
    card = ModelCard(
        name=name,
        source=source,
        format=str(info.get("format", "dense")),
        compression_ratio=info.get("compression_ratio"),
        extra=extra,
    )
    return ResolvedModel(path=folder, name=name, card=card)


def _pool(settings: Settings, urls: list[str], cards: dict[str, ModelCard]) -> EnginePool:
    """An engine pool probing `urls` on the settings' health schedule."""
    client = httpx.AsyncClient(
        limits=httpx.Limits(max_connections=None, max_keepalive_connections=64)
    )
    return EnginePool(
        urls,
        client=client,
        probe_interval_s=settings.health_interval_s,
        probe_timeout_s=settings.health_timeout_s,
        cards=cards,
    )


def engine_spec(settings: Settings, model: ResolvedModel, speculation: Speculation) -> EngineSpec:
    """How the supervisor starts the local engine for `model`.

    Args:
        settings: validated settings.
        model: the resolved model folder and served name.
        speculation: the resolved speculative-decoding setup.
    """
    structured = (
        ["--structured-outputs-config", settings.structured_outputs_config]
        if settings.structured_outputs_config
        else []
    )
    return EngineSpec(
        model_path=str(model.path),
        served_name=model.name,
        host=settings.engine_host,
        port=settings.engine_port,
        python=settings.engine_python or sys.executable,
        enforce_eager=settings.enforce_eager,
        kv_cache_gb=settings.kv_cache_gb,
        max_model_len=settings.max_model_len,
        extra_args=[
            *structured,
            *settings.engine_args,  # after ours: vLLM keeps the last value of a repeated flag
            *speculation.engine_args(),
            *native_engine_args(model.path, settings.native_kernels),
        ],
        env={
            "STRUCTSERVE_NATIVE_KERNELS": settings.native_kernels,
            CHOICE_SETS_DIR_ENV: str(settings.choice_sets_path()),
            **cpu_layout_env(settings.cpu_in_process),
        },
        metrics_dir=str(settings.cache_dir / "engine_metrics" / str(settings.engine_port)),
    )


def build_components(
    settings: Settings, metrics: GatewayMetrics | None = None
) -> tuple[EnginePool, EngineSupervisor | None]:
    """The engine pool and, unless attaching to external engines, the local supervisor.

    Args:
        settings: validated settings.
        metrics: where engine restarts are counted (the app's registry).
    """
    if settings.engine_url:
        # Declaring the model lets requests get 503 (not 404) before the engines come up.
        name = settings.served_model_name
        cards = {name: ModelCard(name=name)} if name else {}
        return _pool(settings, settings.engine_url, cards), None
    model = resolve_model(settings)
    try:
        speculation = resolve_speculation(settings, model.path)
    except SpeculationError as exc:
        raise ServeError(str(exc)) from exc
    model.card.extra.update(speculation.card_extra())
    spec = engine_spec(settings, model, speculation)
    pool = _pool(settings, [spec.url], {model.name: model.card})
    endpoint = pool.endpoints[0]

    def on_exit(code: int) -> None:
        pool.mark_down(endpoint, f"engine exited with code {code}")
        if metrics is not None:
            metrics.engine_restarts.labels(endpoint.url).inc()

    supervisor = EngineSupervisor(
        spec,
        backoff_s=settings.restart_backoff_s,
        backoff_max_s=settings.restart_backoff_max_s,
        on_exit=on_exit,
        is_ready=lambda: endpoint.ready,
        start_timeout_s=settings.engine_start_timeout_s,
    )
    return pool, supervisor


class _DrainingServer(uvicorn.Server):
    """uvicorn server that flips /ready to 503 as soon as a shutdown signal arrives."""

    def __init__(self, config: uvicorn.Config, app_state: Any) -> None:
        super().__init__(config)
        self._app_state = app_state

    def handle_exit(self, sig: int, frame: Any) -> None:
        self._app_state.draining = True
        super().handle_exit(sig, frame)
        # uvicorn re-raises the signal after shutting down; after a graceful drain we exit 0.
        self._captured_signals.clear()


def main(argv: list[str]) -> int:
    """Entry point of `structserve serve`."""
    ours, passthrough = split_engine_args(argv)
    namespace = build_parser().parse_args(ours)
    try:
        settings = load_settings(
            cli_values(namespace, passthrough), getattr(namespace, "config", None)
        )
    except (ValidationError, ValueError, OSError) as exc:
        print(f"structserve serve: invalid settings:\n{exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        metrics = GatewayMetrics()
        pool, supervisor = build_components(settings, metrics)
    except ServeError as exc:
        print(f"structserve serve: {exc}", file=sys.stderr)
        return 2
    app = build_app(settings, pool, supervisor, metrics)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        access_log=False,
        timeout_graceful_shutdown=int(settings.drain_timeout_s) or None,
    )
    _DrainingServer(config, app.state).run()
    return 0
