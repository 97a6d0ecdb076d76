"""`dependentRequired`, `dependentSchemas` and draft-7 `dependencies` as `anyOf` expansions.

Each dependency of property `p` becomes one conjunct: `anyOf: [{properties: {p: false}},
{required: [p, ...dependents]}, {required: [...dependents, p]}]` (array form; the backend
generates required properties in list order, so both orders are offered) or `anyOf:
[{properties: {p: false}}, {required: [p]} ∧ S, {properties: {p: true}, required: [p]} ∧ S]`
(schema form, `p` after or before the properties S names): `p` absent, or present with what it
requires. The first conjunct takes
the node's `anyOf` when it has none, the rest go to the end of its `allOf`. The keyword is
removed when the draft does not define it (an annotation: `dependencies` in 2020-12,
`dependentRequired` in draft 7).
"""

from __future__ import annotations

import copy
from typing import Any

from server.structured.rewrites import common

_KEYS = ("dependentRequired", "dependentSchemas", "dependencies")


def apply(schema: Any) -> Any:
    """Rewrite `schema` (a private copy: may be changed in place); returns the result."""
    for node, keywords, fragments in common.rewritable_nodes(schema):
        for key in _KEYS:
            if not common.detachable(node, key, fragments) or not isinstance(node[key], dict):
                continue
            if key not in keywords:
                common.detach(node, key)  # an annotation in this draft
                continue
            conjuncts = _conjuncts(node[key], schema)
            if conjuncts is not None:
                common.detach(node, key)
                for conjunct in conjuncts:
                    common.conjoin(node, conjunct)
    return schema


def _conjuncts(dependencies: dict[str, Any], document: Any) -> list[Any] | None:
    """One `anyOf` per dependency, or None when one cannot be copied exactly (an `$id` or anchor
    would be duplicated, or a keyword left unenforced would be reported inside the copy)."""
    found = []
    for name, needs in dependencies.items():
        if isinstance(needs, list):
            others = [n for n in dict.fromkeys(needs) if n != name]
            if not others:
                continue  # holds for every instance
            present: list[Any] = [{"required": [name, *others]}, {"required": [*others, name]}]
        elif (
            isinstance(needs, bool | dict)
            and not common.has_referable(needs)
            and common.fully_enforceable(needs, document, apply)
        ):
            first = common.property_is(name, True, typed=False)  # `name` before the schema's own
            present = [
                common.conjunction([req, copy.deepcopy(needs)])
                for req in ({"required": [name]}, first)
            ]
        else:
            return None
        conjunct = common.disjunction([common.property_is(name, False, typed=False), *present])
        if conjunct is not True:
            found.append(conjunct)
    return found
