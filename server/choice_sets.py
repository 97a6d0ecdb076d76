"""The gateway's choice-set service (issue 18): `/v1/choice_sets` and the requests that use them.

Registering tokenizes each item with the served model's tokenizer and compiles the token trie
into the shared store (`choice_sets.store`); a request with `structured_outputs.choice_set`
(or an inline `choice` list longer than the grammar limit) is forwarded with the compiled trie's
path in `vllm_xargs`, where the engine's logits processor (`choice_sets.vllm_processor`) masks
each step to the set. The verdict checks the output is an item. Store errors become the OpenAI
error JSON here (400, 404, 409, 413).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from choice_sets.store import (
    DIR_ENV,
    INLINE_PREFIX,
    XARG,
    ChoiceSetError,
    ChoiceSetExistsError,
    ChoiceSetInfo,
    ChoiceSetLimits,
    ChoiceSetNotFoundError,
    ChoiceSetStore,
    ChoiceSetTooLargeError,
    items_digest,
)
from choice_sets.tokenizer import ModelTokenizer, NonCanonicalItemsError, TokenizerUnavailableError
from server import choice_schema
from server.errors import (
    Conflict,
    InvalidRequest,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    StructServeError,
)
from server.gateway_metrics import GatewayMetrics
from server.settings import Settings
from server.structured.schema import StructuredLimits
from server.structured.structured_plan import StructuredPlan

__all__ = ["DIR_ENV", "ChoiceSetService"]
BACKEND = "structserve-choice-trie"
REGISTRATION_RETRY_S = 10  # Retry-After of a registration refused while others build


class Membership:
    """`text in membership`: whether a text is an item of a stored set (the verdict's check)."""

    def __init__(self, store: ChoiceSetStore, info: ChoiceSetInfo) -> None:
        self.store = store
        self.info = info

    def __contains__(self, text: object) -> bool:
        return isinstance(text, str) and self.store.contains(self.info, text)


class ChoiceSetService:
    """Owns the store and the tokenizer that compiles sets for the served model."""

    def __init__(
        self,
        store: ChoiceSetStore,
        tokenizer_folder: Path | None,
        metrics: GatewayMetrics,
        *,
        refusal: str | None = None,
        inline_above: int = 2000,
        schema_max_items: int = 20_000,
        max_builds: int = 1,
    ) -> None:
        """Args:
        store: the shared folder of sets.
        tokenizer_folder: the model folder whose tokenizer compiles sets (None: sets can be
            stored but not used).
        metrics: the gateway's registry.
        refusal: why the engine cannot use choice sets (speculative decoding), else None.
        inline_above: inline `choice` lists longer than this use a choice set.
        schema_max_items: the largest set a JSON schema may embed (`x-choice-set`).
        max_builds: registrations handled at once (`registration`).
        """
        self.store = store
        self.tokenizer_folder = tokenizer_folder
        self.metrics = metrics
        self.refusal = refusal
        self.inline_above = inline_above
        self.schema_max_items = schema_max_items
        self.max_builds = max_builds
        self._building = 0
        self._tokenizer: ModelTokenizer | None = None

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        metrics: GatewayMetrics,
        *,
        model_folder: Path | None = None,
        refusal: str | None = None,
        inline_above: int = 2000,
    ) -> ChoiceSetService:
        """The service over `settings.choice_sets_path()`; the tokenizer is
        `choice_sets_tokenizer`, else the supervised engine's `model_folder`."""
        limits = ChoiceSetLimits(
            max_items=settings.choice_set_max_items,
            max_item_chars=settings.choice_set_max_item_chars,
            max_sets=settings.choice_set_max_sets,
        )
        return cls(
            ChoiceSetStore(settings.choice_sets_path(), limits),
            settings.choice_sets_tokenizer or model_folder,
            metrics,
            refusal=refusal,
            inline_above=inline_above,
            schema_max_items=settings.choice_set_schema_max_items,
            max_builds=settings.choice_set_max_builds,
        )

    def tokenizer(self) -> ModelTokenizer:
        """The compiling tokenizer (opened once). Raises InvalidRequest when there is none."""
        if self._tokenizer is None:
            if self.tokenizer_folder is None:
                raise InvalidRequest(
                    "choice sets need the model's tokenizer in the gateway: set "
                    "choice_sets_tokenizer (STRUCTSERVE_CHOICE_SETS_TOKENIZER) to the model folder",
                    code="choice_sets_unavailable",
                )
            try:
                self._tokenizer = ModelTokenizer.open(self.tokenizer_folder)
            except TokenizerUnavailableError as exc:
                raise InvalidRequest(str(exc), code="choice_sets_unavailable") from exc
        return self._tokenizer

    def _tokenizers(self) -> list[ModelTokenizer]:
        return [] if self.tokenizer_folder is None else [self.tokenizer()]

    @contextlib.asynccontextmanager
    async def registration(self) -> AsyncIterator[None]:
        """A registration slot, held while the body is read and the set built: at most
        `max_builds` at once (each tokenizes on every core and holds ~1 GB at 1M items), so a
        burst of uploads cannot exhaust the gateway. Raises RateLimited (429, Retry-After)
        beyond; the body of a refused upload is never read."""
        if self._building >= self.max_builds:
            raise RateLimited(
                f"{self._building} choice set registration(s) in progress, the most this gateway "
                f"runs at once (choice_set_max_builds = {self.max_builds}); retry later",
                code="choice_set_builds_busy",
                headers={"Retry-After": str(REGISTRATION_RETRY_S)},
            )
        self._building += 1
        try:
            yield
        finally:
            self._building -= 1

    async def create(self, name: Any, items: Any) -> tuple[ChoiceSetInfo, bool]:
        """Register a set (off the event loop). Returns (info, created)."""
        started = time.perf_counter()
        info, created = await _call(self.store.create, name, items, self._tokenizers())
        if created:
            self.metrics.choice_set_build.observe(time.perf_counter() - started)
        self.metrics.choice_set_items.labels(info.name).set(info.items)
        return info, created

    async def get(self, name: str) -> ChoiceSetInfo:
        """A set's metadata (404 when unknown)."""
        return await _call(self.store.get, name)

    async def list_sets(self) -> list[ChoiceSetInfo]:
        """Every registered set."""
        return await _call(self.store.list_sets)

    async def delete(self, name: str) -> ChoiceSetInfo:
        """Remove a set (404 when unknown)."""
        info = await _call(self.store.delete, name)
        self.metrics.choice_set_items.remove(info.name)
        return info

    def wants(self, body: dict[str, Any]) -> bool:
        """Whether the request uses a choice set (named, or an inline list above the limit)."""
        outputs = body.get("structured_outputs")
        if not isinstance(outputs, dict):
            return False
        if outputs.get("choice_set") is not None:
            return True
        choice = outputs.get("choice")
        return isinstance(choice, list) and len(choice) > self.inline_above

    async def expand_schemas(
        self, body: dict[str, Any], limits: StructuredLimits
    ) -> StructuredLimits:
        """Embed the sets named by `x-choice-set` in the request's schemas (in place; see
        `server.choice_schema`); returns the limits for this request.

        Raises:
            NotFound: an unknown set. InvalidRequest: a malformed use or a set too large.
        """
        return await asyncio.to_thread(
            choice_schema.expand, body, self._items_of, limits, self.schema_max_items
        )

    def _items_of(self, name: str, param: str) -> list[str]:
        try:
            return self.store.items(name)
        except ChoiceSetError as exc:
            raise http_error(exc, param) from exc

    async def plan(self, body: dict[str, Any]) -> StructuredPlan:
        """Rewrite a choice-set request (in place) for the engine and plan its verdict.

        Raises:
            InvalidRequest: malformed field, the engine cannot use choice sets, bad items.
            NotFound: the named set does not exist.
        """
        if self.refusal is not None:
            raise InvalidRequest(
                f"choice sets are unavailable: {self.refusal}", param="structured_outputs"
            )
        outputs = body["structured_outputs"]
        name = await self._set_name(outputs)
        inline = name.startswith(INLINE_PREFIX)
        param = f"structured_outputs.{'choice' if inline else 'choice_set'}"
        info, path = await _call(self.store.compiled, name, self.tokenizer(), param=param)
        del body["structured_outputs"]
        xargs = body.get("vllm_xargs")
        body["vllm_xargs"] = {**(xargs if isinstance(xargs, dict) else {}), XARG: path}
        kind = "choice" if inline else "choice_set"
        return StructuredPlan(
            kind=kind, strict=True, spec=Membership(self.store, info), backend=BACKEND
        )

    async def _set_name(self, outputs: dict[str, Any]) -> str:
        """The named set, or the inline list registered as a content-addressed set."""
        others = [k for k, v in outputs.items() if k != "choice_set" and v not in (None, False)]
        named = outputs.get("choice_set")
        if named is not None:
            if others:
                raise InvalidRequest(
                    f"structured_outputs.choice_set cannot be combined with {others}",
                    param="structured_outputs",
                )
            if not isinstance(named, str):
                raise InvalidRequest(
                    "choice_set must be the name of a registered choice set",
                    param="structured_outputs.choice_set",
                )
            return named
        items = outputs["choice"]
        name = f"{INLINE_PREFIX}{items_digest([str(i) for i in items])[:32]}"
        create = functools.partial(self.store.create, inline=True)
        await _call(create, name, items, [self.tokenizer()], param="structured_outputs.choice")
        return name


async def _call(fn: Any, *args: Any, param: str | None = None) -> Any:
    """Run a store call in a thread, its errors as the gateway's."""
    try:
        return await asyncio.to_thread(fn, *args)
    except (ChoiceSetError, NonCanonicalItemsError) as exc:
        raise http_error(exc, param) from exc


def http_error(exc: Exception, param: str | None = None) -> StructServeError:
    """The OpenAI error for a store error."""
    message = str(exc)
    if param is None:
        param = exc.param if isinstance(exc, ChoiceSetError) else "items"
    if isinstance(exc, ChoiceSetNotFoundError):
        return NotFound(message, param=param, code="choice_set_not_found")
    if isinstance(exc, ChoiceSetExistsError):
        return Conflict(message, param=param, code="choice_set_exists")
    if isinstance(exc, ChoiceSetTooLargeError):
        return PayloadTooLarge(message, param=param, code="choice_set_too_large")
    return InvalidRequest(message, param=param, code="invalid_choice_set")
