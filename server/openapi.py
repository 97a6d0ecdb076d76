"""OpenAPI: the request bodies the routes validate by hand, described for clients and fuzzers.

The generation routes read the raw body (to pass vLLM's extension fields through untouched), so
FastAPI cannot infer their schemas; this adds them from the same pydantic models.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from server.protocol import ChatCompletionRequest, CompletionRequest
from server.responses.request import ResponsesRequest

BODIES: dict[str, type[BaseModel]] = {
    "/v1/chat/completions": ChatCompletionRequest,
    "/v1/completions": CompletionRequest,
    "/v1/responses": ResponsesRequest,
}
_REF = "#/components/schemas/{model}"


def _error_response(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": _REF.format(model="ErrorResponse")}}},
    }


def _error_schema() -> dict[str, Any]:
    detail = {
        "type": "object",
        "required": ["message", "type", "param", "code"],
        "properties": {
            "message": {"type": "string"},
            "type": {"type": "string"},
            "param": {"type": ["string", "null"]},
            "code": {"type": ["string", "null"]},
        },
    }
    return {"type": "object", "required": ["error"], "properties": {"error": detail}}


def install_openapi(app: FastAPI) -> None:
    """Replace `app.openapi` with one that documents request bodies and error responses."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        doc = get_openapi(title=app.title, version=app.version, routes=app.routes)
        schemas = doc.setdefault("components", {}).setdefault("schemas", {})
        schemas["ErrorResponse"] = _error_schema()
        for path, model in BODIES.items():
            schema = model.model_json_schema(ref_template=_REF)
            schemas.update(schema.pop("$defs", {}))
            schemas[model.__name__] = schema
            op = doc["paths"][path]["post"]
            op["requestBody"] = {
                "required": True,
                "content": {
                    "application/json": {"schema": {"$ref": _REF.format(model=model.__name__)}}
                },
            }
            op["responses"].update(
                {
                    "400": _error_response("Invalid request (names the parameter)"),
                    "401": _error_response("Missing or invalid API key"),
                    "404": _error_response("Unknown model"),
                    "413": _error_response("Body over the size limit"),
                    "429": _error_response("Admission queue full"),
                    "503": _error_response("No ready engine"),
                }
            )
        app.openapi_schema = doc
        return doc

    app.openapi = openapi  # type: ignore[method-assign]
