"""POST/GET/DELETE /v1/responses: translate, run the chat path, translate back, store.

The chat path (`GenerationService.handle_body`) does validation, the structured-output policy,
admission, routing, timeouts and verdicts; this service only translates and stores.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from functools import partial
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from server.errors import InvalidRequest, NotFound, StructServeError
from server.generation import GenerationService
from server.protocol import ChatCompletionRequest
from server.responses.chat_answer import chat_events, whole_answer
from server.responses.chat_body import CHAT_ROUTE, build_chat_body, responses_param
from server.responses.ids import new_id
from server.responses.items import normalize_input
from server.responses.output import Outcome, output_from_choice, response_object, usage_from_chat
from server.responses.request import ResponsesRequest, parse_responses_request
from server.responses.store import ResponseStore, StoredResponse
from server.responses.stream import StreamTranslator
from server.streaming import sse_response

log = logging.getLogger("structserve.responses")
PURGE_INTERVAL_S = 3600.0


@dataclass(frozen=True)
class _Turn:
    """One request on its way: the request, its id and time, and the whole input it sends."""

    req: ResponsesRequest
    response_id: str
    created_at: int
    input_items: list[dict[str, Any]]


class ResponsesService:
    """The Responses API over the gateway's chat path, with stored conversations."""

    def __init__(
        self,
        generation: GenerationService,
        store: ResponseStore,
        *,
        retention_days: float = 30.0,
    ) -> None:
        self.generation = generation
        self.store = store
        self.retention_days = retention_days

    async def create(self, request: Request) -> Response:
        """Handle POST /v1/responses (streaming or not)."""
        started = time.perf_counter()
        req = parse_responses_request(await self.generation.read_body(request))
        items = normalize_input(req.input)
        if req.previous_response_id is not None:
            previous = await self.store.aget(req.previous_response_id)
            if previous is None:
                raise NotFound(
                    f"Previous response with id '{req.previous_response_id}' not found.",
                    param="previous_response_id",
                    code="previous_response_not_found",
                )
            items = [*previous.conversation(), *items]
        turn = _Turn(req, new_id("resp"), int(time.time()), items)
        chat_body = build_chat_body(req, items)
        try:
            answer = await self.generation.handle_body(
                request, CHAT_ROUTE, ChatCompletionRequest, chat_body, started=started
            )
        except StructServeError as exc:
            exc.param = responses_param(exc.param)
            raise
        if isinstance(answer, StreamingResponse):
            return self._stream(turn, answer)
        return JSONResponse(await self._whole(turn, whole_answer(answer)))

    async def _whole(self, turn: _Turn, chat: dict[str, Any]) -> dict[str, Any]:
        choices = chat.get("choices") or [{}]
        choice = choices[0]
        outcome = Outcome.from_finish([choice.get("finish_reason")])
        output = output_from_choice(choice, outcome)
        response = _build(turn, outcome, output, usage_from_chat(chat.get("usage")))
        await self._keep(turn, response)
        return response

    async def _keep(self, turn: _Turn, response: dict[str, Any] | None) -> None:
        if turn.req.store and response is not None:
            await self.store.aput(response, turn.input_items)

    def _stream(self, turn: _Turn, answer: StreamingResponse) -> StreamingResponse:
        build = partial(_build, turn)
        translator = StreamTranslator(build)

        async def events() -> AsyncIterator[bytes]:
            for event in translator.start():
                yield event
            chunks = chat_events(answer)
            try:
                async for chunk in chunks:
                    if isinstance(chunk.get("error"), dict):
                        *failed, last = translator.fail(chunk["error"])
                        for event in failed:
                            yield event
                        await self._keep(turn, translator.final)
                        yield last
                        return
                    for event in translator.feed(chunk):
                        yield event
            finally:
                await chunks.aclose()
            *body, last = translator.finish()
            for event in body:
                yield event
            await self._keep(turn, translator.final)  # stored before the client hears of it
            yield last

        return sse_response(events())

    async def retrieve(self, response_id: str) -> dict[str, Any]:
        """GET /v1/responses/{id}: the stored response (404 when unknown or not stored)."""
        return (await self._stored(response_id)).response

    async def input_items(
        self, response_id: str, *, order: str = "desc", limit: int = 20, after: str | None = None
    ) -> dict[str, Any]:
        """GET /v1/responses/{id}/input_items: the whole input, a replayed conversation
        included, as an OpenAI list page.

        Args:
            response_id: the stored response.
            order: "desc" (newest first, OpenAI's default) or "asc".
            limit: items per page, 1 to 100.
            after: list the items after this item id.

        Returns:
            {"object": "list", "data", "first_id", "last_id", "has_more"}.
        """
        if order not in ("asc", "desc"):
            raise InvalidRequest("order: must be asc or desc", param="order")
        if not 1 <= limit <= 100:
            raise InvalidRequest("limit: must be between 1 and 100", param="limit")
        items = (await self._stored(response_id)).input_items
        items = items[::-1] if order == "desc" else list(items)
        if after is not None:
            ids = [item.get("id") for item in items]
            if after not in ids:
                raise InvalidRequest(f"after: no input item {after!r}", param="after")
            items = items[ids.index(after) + 1 :]
        page = items[:limit]
        return {
            "object": "list",
            "data": page,
            "first_id": page[0]["id"] if page else None,
            "last_id": page[-1]["id"] if page else None,
            "has_more": len(items) > limit,
        }

    async def delete(self, response_id: str) -> dict[str, Any]:
        """DELETE /v1/responses/{id} (404 when unknown)."""
        if not await self.store.adelete(response_id):
            raise _not_found(response_id)
        return {"id": response_id, "object": "response", "deleted": True}

    async def _stored(self, response_id: str) -> StoredResponse:
        stored = await self.store.aget(response_id)
        if stored is None:
            raise _not_found(response_id)
        return stored

    async def purge_forever(self, interval_s: float = PURGE_INTERVAL_S) -> None:
        """Purge expired responses now and then every `interval_s` (cancel to stop)."""
        while True:
            try:
                purged = await self.store.apurge(self.retention_days)
            except (sqlite3.Error, OSError) as exc:  # a locked or broken file: next round
                log.warning("purging stored responses failed: %s", exc)
            else:
                if purged:
                    log.info(
                        "purged %d stored responses older than %g days", purged, self.retention_days
                    )
            await asyncio.sleep(interval_s)


def _build(
    turn: _Turn, outcome: Outcome, output: list[dict[str, Any]], usage: dict[str, Any] | None
) -> dict[str, Any]:
    """The response object of one turn (whole, or a stream's snapshot)."""
    return response_object(
        turn.req,
        response_id=turn.response_id,
        created_at=turn.created_at,
        outcome=outcome,
        output=output,
        usage=usage,
    )


def _not_found(response_id: str) -> NotFound:
    return NotFound(
        f"Response with id '{response_id}' not found.",
        param="response_id",
        code="response_not_found",
    )
