"""Resolve every `$ref` of a schema inside the document itself (base URIs from `$id`, anchors,
JSON pointers), never fetching anything: a reference that leaves the document is refused."""

from __future__ import annotations

from typing import Any
from urllib.parse import urldefrag, urljoin

import referencing.exceptions
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012, specification_with

from server.errors import InvalidRequest
from server.structured.walk import _children, join

_ROOT = "https://structserve.invalid/schema.json"


class _Remote(LookupError):
    """A reference outside the document (never fetched)."""


def _refuse(uri: str) -> Resource[Any]:
    raise _Remote(uri)


def check_refs(schema: dict[str, Any], *, param: str) -> None:
    """Raise InvalidRequest naming the pointer of the first `$ref` that is remote or dangling.

    Args:
        schema: a schema document (already valid against its metaschema).
        param: the request field holding the schema.
    """
    spec = specification_with(str(schema.get("$schema", "")), default=DRAFT202012)
    root = spec.create_resource(schema)
    base = urljoin(_ROOT, root.id() or "")
    registry: Registry[Any] = Registry(retrieve=_refuse)  # type: ignore[call-arg]
    try:
        registry = registry.with_resource(base, root).crawl()
    except (AttributeError, TypeError) as exc:  # a subschema slot holding a non-schema
        raise InvalidRequest(
            f"the schema's references cannot be resolved: a subschema is not a schema ({exc})",
            param=param,
        ) from None
    stack: list[tuple[str, Any, str]] = [("", schema, base)]
    while stack:
        where, node, node_base = stack.pop()
        if not isinstance(node, dict):
            continue
        node_id = spec.id_of(node)
        if isinstance(node_id, str) and where:
            node_base = urljoin(node_base, node_id)
        ref = node.get("$ref")
        if isinstance(ref, str):
            _resolve(registry, node_base, ref, pointer=join(where, "$ref"), param=param)
        stack.extend((path, child, node_base) for path, child in _children(where, node))


def _resolve(registry: Registry[Any], base: str, ref: str, *, pointer: str, param: str) -> None:
    try:
        registry.resolver(base_uri=base).lookup(ref)
        return
    except (referencing.exceptions.Unresolvable, referencing.exceptions.Unretrievable):
        pass
    except (AttributeError, TypeError):  # the target is not a schema (e.g. a list)
        raise InvalidRequest(
            f"unresolvable $ref {ref!r} at {pointer}: it names something that is not a schema",
            param=param,
        ) from None
    document = urldefrag(urljoin(base, ref)).url
    try:
        if not ref.startswith("#"):
            registry[document]
    except LookupError:
        raise InvalidRequest(
            f"remote $ref {ref!r} at {pointer} is not allowed: "
            "only references inside the schema document are resolved",
            param=param,
        ) from None
    raise InvalidRequest(
        f"unresolvable $ref {ref!r} at {pointer}: it names nothing in the document",
        param=param,
    )
