"""/v1/choice_sets: register, list, read and delete choice sets (issue 18, docs/choice_sets.md).

POST takes JSON `{"name": ..., "items": [...]}`, or a file for lists too large to build as JSON by
hand: the body as `Content-Type: text/plain` (one item per line, `?name=`), or a multipart form
with a `file` field (and `name`).
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException

from server.errors import InvalidRequest, RequestTimeout
from server.generation import decode_body

router = APIRouter()


async def _read(request: Request) -> bytes:
    timeout = request.app.state.generation.limits.body_read_timeout_s
    try:
        return await asyncio.wait_for(request.body(), timeout)
    except TimeoutError:
        raise RequestTimeout("the request body did not arrive in time") from None


async def _name_and_items(request: Request) -> tuple[Any, Any]:
    """(name, items) from a JSON body, a text/plain upload or a multipart form."""
    raw = await _read(request)
    kind = request.headers.get("content-type", "")
    if kind.startswith("text/plain"):
        return request.query_params.get("name"), _lines(raw)
    if kind.startswith("multipart/form-data"):
        return await _form(request)
    body = await asyncio.to_thread(decode_body, raw)
    if not isinstance(body, dict):
        raise InvalidRequest("request body must be a JSON object with `name` and `items`")
    unknown = sorted(set(body) - {"name", "items"})
    if unknown:
        raise InvalidRequest(f"unknown fields {unknown}", param=unknown[0])
    return body.get("name"), body.get("items")


async def _form(request: Request) -> tuple[Any, list[str]]:
    """A multipart form (`curl -F name=parts -F file=@parts.txt`): the `file` field is the list,
    one item per line; `name` from the form or the query."""
    try:
        form = await request.form(max_files=1, max_fields=4)
    except (MultiPartException, HTTPException) as exc:
        raise InvalidRequest(f"malformed multipart body: {getattr(exc, 'message', exc)}") from None
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise InvalidRequest("a multipart upload needs a `file` field", param="file")
    name = form.get("name") or request.query_params.get("name")
    return name, _lines(await upload.read())


def _lines(raw: bytes) -> list[str]:
    """The non-empty lines of an uploaded list."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidRequest("the uploaded list is not valid UTF-8") from None
    return [line for line in text.splitlines() if line]


@router.post("/v1/choice_sets")
async def create_choice_set(request: Request) -> JSONResponse:
    """Register a set: 201 with its metadata, 200 when the same items were already stored;
    429 while the gateway already builds as many sets as it runs at once."""
    service = request.app.state.choice_sets
    async with service.registration():
        name, items = await _name_and_items(request)
        info, created = await service.create(name, items)
    return JSONResponse(info.to_json(), status_code=201 if created else 200)


@router.get("/v1/choice_sets")
async def list_choice_sets(request: Request) -> JSONResponse:
    """Every registered set."""
    found = await request.app.state.choice_sets.list_sets()
    return JSONResponse({"object": "list", "data": [info.to_json() for info in found]})


@router.get("/v1/choice_sets/{name}")
async def get_choice_set(request: Request, name: str) -> JSONResponse:
    """One set's metadata (404 when unknown)."""
    info = await request.app.state.choice_sets.get(name)
    return JSONResponse(info.to_json())


@router.delete("/v1/choice_sets/{name}")
async def delete_choice_set(request: Request, name: str) -> JSONResponse:
    """Remove a set (404 when unknown)."""
    info = await request.app.state.choice_sets.delete(name)
    return JSONResponse({"id": info.name, "object": "choice_set", "deleted": True})
