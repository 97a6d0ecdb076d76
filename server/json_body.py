"""Decoding of JSON request bodies that every later stage (pydantic, httpx, vLLM) can handle.

`json.loads` alone accepts documents the gateway cannot forward: `NaN`/`Infinity`/`1e400`
(httpx refuses non-finite floats), lone UTF-16 surrogates such as `"\\ud800"` (not encodable as
UTF-8), and nesting that only fails later, deeper in the stack, with a RecursionError. Each is a
400 here, before anything else looks at the body.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from typing import Any

from server.errors import InvalidRequest

MAX_DEPTH = 256  # containers inside containers; schemas of 64 levels need ~130


def _reject_constant(name: str) -> float:
    raise InvalidRequest(f"request body holds {name}, which is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise InvalidRequest(f"request body holds the number {text[:40]}, out of range")
    return value


def _check_text(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidRequest(
            "request body holds a lone UTF-16 surrogate (\\ud800-\\udfff)"
        ) from None


def check_tree(value: Any, *, max_depth: int = MAX_DEPTH) -> None:
    """Raise InvalidRequest if a decoded document nests deeper than `max_depth` or holds a
    string (value or key) that is not encodable as UTF-8. Iterative: no recursion limit."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, str):
            _check_text(node)
            continue
        if not isinstance(node, (dict, list)):
            continue
        if depth > max_depth:
            raise InvalidRequest(f"request body nests deeper than {max_depth} levels")
        children: Iterable[Any] = node
        if isinstance(node, dict):
            for key in node:
                _check_text(key)
            children = node.values()
        stack.extend((c, depth + 1) for c in children if isinstance(c, (str, dict, list)))


def loads(text: str, *, max_depth: int = MAX_DEPTH) -> Any:
    """Parse a request body: strict JSON numbers, bounded depth, UTF-8-encodable strings.

    Args:
        text: the body, already decoded from UTF-8.
        max_depth: deepest container nesting accepted.

    Returns:
        The document. Raises InvalidRequest (400) for anything the gateway could not forward,
        ValueError for text that is not JSON at all.
    """
    try:
        value = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
    except RecursionError:
        raise InvalidRequest(f"request body nests deeper than {max_depth} levels") from None
    check_tree(value, max_depth=max_depth)
    return value
