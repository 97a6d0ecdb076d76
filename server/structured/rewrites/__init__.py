"""Rewrites of a client's schema into an equivalent one whose keywords the decoding backend
enforces exactly (every valid instance stays valid, every invalid one stays invalid).

`rewrite_schema` never changes its argument; keywords a step cannot rewrite exactly are left in
place for the policy to refuse (strict) or report (non-strict). Each step is one module with
`apply(schema) -> schema`, run in the order of STEPS (later steps see earlier steps' output).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from server.structured.rewrites import (
    conditionals,
    contains,
    dependencies,
    formats,
    negation,
    normalize,
    property_names,
    unevaluated,
    unique_items,
)

STEPS: tuple[Callable[[Any], Any], ...] = (
    normalize.apply,
    formats.apply,
    dependencies.apply,
    conditionals.apply,
    property_names.apply,
    unique_items.apply,
    contains.apply,
    unevaluated.apply,
    negation.apply,
)


ESSENTIAL: tuple[Callable[[Any], Any], ...] = (normalize.apply, formats.apply)
"""The steps the keyword table relies on (exact formats): they run even when the policy falls
back from the other rewrites."""


def rewrite_schema(schema: Any, *, essential_only: bool = False) -> Any:
    """An equivalent schema with as many unenforced keywords as possible rewritten away.

    Args:
        schema: the client's schema, already checked against its metaschema.
        essential_only: run only the ESSENTIAL steps (the fallback when the full rewrite fails).

    Returns:
        A new schema document (the argument is never changed).
    """
    result = copy.deepcopy(schema)
    for step in ESSENTIAL if essential_only else STEPS:
        result = step(result)
    return result
