"""Engine endpoints and the pool that routes each request to the least-loaded healthy one.

An engine is any vLLM OpenAI server reachable by URL: the one `serve` supervises, or external
ones (`--engine-url`). A background probe marks engines ready or ejects them; the pool never
routes to an engine that failed its last probe.

Each time an engine becomes ready (first start, and after every restart or ejection), the probe
also runs the backend canary (server.structured.canary) and records what the engine was verified
to enforce; strict structured requests go only to verified engines.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from server.errors import EngineUnavailable, NotFound
from server.structured.canary import CanaryResult, run_canary

NOT_VERIFIED = "not verified yet"

log = logging.getLogger("structserve.engines")


@dataclass
class ModelCard:
    """What /v1/models says about one served model."""

    name: str
    source: str | None = None
    format: str = "unknown"
    compression_ratio: float | None = None
    max_model_len: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Endpoint:
    """One engine and what the gateway knows about it."""

    url: str
    ready: bool = False
    outstanding: int = 0
    models: dict[str, ModelCard] = field(default_factory=dict)
    consecutive_failures: int = 0
    next_probe_at: float = 0.0
    last_error: str | None = None
    structured_backend: str | None = None  # what the canary verified ("guidance"), else None
    backend_reason: str = NOT_VERIFIED  # why it is not verified
    canary_due: bool = True  # run the canary at the next successful probe
    next_canary_at: float = 0.0  # backoff after a canary that could not run
    canary_failures: int = 0
    last_output_at: float = float("-inf")  # when it last streamed output to a client

    @property
    def verified(self) -> bool:
        """Whether the canary verified this engine's structured-output backend."""
        return self.structured_backend is not None

    def backend_label(self) -> str:
        """The verified backend, or `unverified: <reason>` (for verdicts and /ready)."""
        return self.structured_backend or f"unverified: {self.backend_reason}"

    def status(self) -> dict[str, Any]:
        """A JSON-able summary for /ready."""
        return {
            "url": self.url,
            "ready": self.ready,
            "outstanding": self.outstanding,
            "models": sorted(self.models),
            "last_error": self.last_error,
            "structured_backend": self.backend_label(),
        }


class EnginePool:
    """Routes requests over engines; probes their health in the background."""

    def __init__(
        self,
        urls: list[str],
        *,
        client: httpx.AsyncClient,
        probe_interval_s: float = 1.0,
        cards: dict[str, ModelCard] | None = None,
        eject_after: int = 3,
        probe_timeout_s: float = 5.0,
        canary_timeout_s: float = 15.0,
    ) -> None:
        self.endpoints = [Endpoint(url=url) for url in urls]
        self.client = client
        self.probe_interval_s = probe_interval_s
        self.cards = cards or {}  # metadata the operator knows (format, source) by model name
        self.eject_after = eject_after  # failed probes (not refusals) before a ready engine is out
        self.probe_timeout_s = probe_timeout_s  # a probe slower than this failed (hung engine)
        self.canary_timeout_s = canary_timeout_s  # per backend-canary request
        self._probe_task: asyncio.Task[None] | None = None

    # -- routing ---------------------------------------------------------------------------
    def known_models(self) -> list[ModelCard]:
        """Every model any engine serves (ready or not), plus configured ones."""
        merged: dict[str, ModelCard] = {}
        for ep in self.endpoints:
            for name, card in ep.models.items():
                merged.setdefault(name, card)
        for name, card in self.cards.items():
            merged.setdefault(name, card)
        return [merged[name] for name in sorted(merged)]

    def pick(self, model: str, *, structured: bool = False, strict: bool = False) -> Endpoint:
        """The ready endpoint serving `model` with the fewest outstanding requests.

        Args:
            model: the requested model.
            structured: the request asks for structured output: verified engines first.
            strict: the request needs exact enforcement: verified engines only.

        Raises:
            NotFound: no engine serves (or is configured to serve) the model.
            EngineUnavailable: the model is known but no engine for it is ready (or, when
                `strict`, none is verified; the message names each engine's reason).
        """
        ready = [ep for ep in self.endpoints if ep.ready and model in ep.models]
        verified = [ep for ep in ready if ep.verified]
        if verified and (structured or strict):
            return min(verified, key=lambda ep: ep.outstanding)
        if ready and strict:
            reasons = "; ".join(f"{ep.url}: {ep.backend_reason}" for ep in ready)
            raise EngineUnavailable(
                f"strict structured output refused: no engine serving {model!r} is verified "
                f"to enforce it exactly ({reasons})",
                code="engine_unverified",
                headers={"Retry-After": "5"},
            )
        if ready:
            return min(ready, key=lambda ep: ep.outstanding)
        if any(card.name == model for card in self.known_models()):
            raise EngineUnavailable(
                f"no engine serving {model!r} is ready; retry shortly",
                headers={"Retry-After": "5"},
            )
        raise NotFound(f"The model {model!r} does not exist.", param="model")

    def is_ready(self) -> bool:
        """True when every known model has at least one ready engine."""
        names = {card.name for card in self.known_models()}
        if not names:
            return False
        return all(any(ep.ready and n in ep.models for ep in self.endpoints) for n in names)

    def mark_down(self, ep: Endpoint, reason: str) -> None:
        """Eject an endpoint after a transport failure; the probe re-admits it."""
        if ep.ready:
            log.warning("engine %s ejected: %s", ep.url, reason)
        ep.ready = False
        ep.last_error = reason
        ep.next_probe_at = 0.0

    # -- probing ---------------------------------------------------------------------------
    async def probe(self, ep: Endpoint) -> None:
        """Check one engine's /health and learn its models; update its state.

        On a not-ready -> ready transition (and while a canary is due) the backend canary runs
        before the engine is marked ready, so this probe can take up to `canary_timeout_s`.
        """
        try:
            health = await self.client.get(f"{ep.url}/health", timeout=self.probe_timeout_s)
            health.raise_for_status()
            listing = await self.client.get(f"{ep.url}/v1/models", timeout=self.probe_timeout_s)
            listing.raise_for_status()
            ep.models = {card.name: card for card in self._cards_from_listing(listing.json())}
        except (httpx.HTTPError, ValueError) as exc:
            self._probe_failed(ep, exc)
            return
        if not ep.ready:
            log.info("engine %s ready: %s", ep.url, ", ".join(sorted(ep.models)))
            self._reset_backend(ep)
        if ep.canary_due and time.monotonic() >= ep.next_canary_at:
            await self.verify(ep)  # before ep.ready: /ready and routing see its verdict at once
        ep.ready = True
        ep.consecutive_failures = 0
        ep.last_error = None
        ep.next_probe_at = time.monotonic() + self.probe_interval_s

    @staticmethod
    def _reset_backend(ep: Endpoint) -> None:
        """A (re)started engine may run another backend: verify it again."""
        ep.structured_backend, ep.backend_reason = None, NOT_VERIFIED
        ep.canary_due, ep.next_canary_at, ep.canary_failures = True, 0.0, 0

    async def verify(self, ep: Endpoint) -> CanaryResult:
        """Run the backend canary on one engine and record the result on it.

        A canary that could not run (timeout, busy engine) leaves the engine unverified and is
        retried at a later probe (backing off up to 30 s).

        Args:
            ep: an engine that answered its health probe (its models are known).
        """
        if not ep.models:
            result = CanaryResult(None, "the engine lists no model", retry=True)
        else:
            result = await run_canary(
                self.client, ep.url, min(ep.models), timeout_s=self.canary_timeout_s
            )
        ep.structured_backend = result.backend
        ep.backend_reason = result.reason or ""
        ep.canary_due = result.retry
        if result.retry:
            ep.backend_reason = f"{NOT_VERIFIED}: {result.reason}"
            ep.canary_failures += 1
            ep.next_canary_at = time.monotonic() + min(2.0**ep.canary_failures, 30.0)
            log.warning("engine %s: backend canary could not run: %s", ep.url, result.reason)
        elif result.backend is None:
            log.error("engine %s not verified, strict refused: %s", ep.url, result.reason)
        else:
            log.info("engine %s verified: structured-output backend %s", ep.url, result.backend)
        return result

    def _probe_failed(self, ep: Endpoint, exc: Exception) -> None:
        """Eject at once when nothing listens or the engine says it is unhealthy; one that is
        only slow to answer gets a few tries (vLLM's front end can be busy for seconds, e.g.
        compiling a large grammar). A slow probe does not count while the engine streams
        output to a client: a busy engine on a small machine can answer /health seconds late
        while it decodes at full speed, and ejecting it would refuse requests it can serve."""
        hard = isinstance(exc, httpx.ConnectError | httpx.HTTPStatusError)
        if not hard and ep.ready and self._streamed_recently(ep):
            log.info("engine %s: slow health probe while it streams output: %s", ep.url, exc)
            ep.next_probe_at = time.monotonic() + self.probe_interval_s
            return
        ep.consecutive_failures += 1
        ep.last_error = f"{type(exc).__name__}: {exc}"[:300]
        if ep.ready and (hard or ep.consecutive_failures >= self.eject_after):
            log.warning(
                "engine %s failed health %d times: %s", ep.url, ep.consecutive_failures, exc
            )
            ep.ready = False
        if ep.ready:
            ep.next_probe_at = time.monotonic() + self.probe_interval_s
            return
        backoff = min(self.probe_interval_s * 2 ** min(ep.consecutive_failures, 5), 30.0)
        ep.next_probe_at = time.monotonic() + backoff

    def _streamed_recently(self, ep: Endpoint) -> bool:
        """Whether `ep` streamed output to a client within the last probe timeout (alive)."""
        return time.monotonic() - ep.last_output_at < self.probe_timeout_s

    def _cards_from_listing(self, listing: dict[str, Any]) -> list[ModelCard]:
        cards = []
        for item in listing.get("data", []):
            name = str(item["id"])
            known = self.cards.get(name)
            card = ModelCard(
                name=name,
                source=known.source if known else item.get("root"),
                format=known.format if known else "unknown",
                compression_ratio=known.compression_ratio if known else None,
                max_model_len=item.get("max_model_len"),
                extra=known.extra if known else {},
            )
            cards.append(card)
        return cards

    async def probe_due(self) -> None:
        """Probe every endpoint whose next probe time has come."""
        now = time.monotonic()
        due = [ep for ep in self.endpoints if ep.next_probe_at <= now]
        if due:
            await asyncio.gather(*(self.probe(ep) for ep in due))

    async def _probe_forever(self) -> None:
        while True:
            await self.probe_due()
            await asyncio.sleep(min(self.probe_interval_s, 0.5))

    def start(self) -> None:
        """Start background probing (idempotent)."""
        if self._probe_task is None or self._probe_task.done():
            self._probe_task = asyncio.create_task(self._probe_forever(), name="engine-probe")

    async def stop(self) -> None:
        """Stop background probing."""
        if self._probe_task is not None:
            self._probe_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._probe_task
            self._probe_task = None
