"""`if`/`then`/`else` as `anyOf: [if ∧ then, ¬if ∧ else]`, where ¬if is the positive
complement of `if` (`negation.complement`): exact whenever `if` is decidable by keywords the
backend enforces, which covers the usual discriminator (`properties: {kind: {const: ...}}` with
`required: [kind]`: ¬if = not an object, `kind` absent, or `kind` another value; without
`required`, an absent `kind` satisfies `if`, and the complement says so). An `if` with no `then`
or `else`, or a `then`/`else` with no `if`, asserts nothing and is removed. An `if` with no exact
complement keeps all three keywords, for the policy to refuse or report.
"""

from __future__ import annotations

import copy
from typing import Any

from server.structured.rewrites import common
from server.structured.rewrites.negation import complement

_KEYS = ("if", "then", "else")


def apply(schema: Any) -> Any:
    """Rewrite `schema` (a private copy: may be changed in place); returns the result."""
    for node, keywords, fragments in common.rewritable_nodes(schema):
        present = [key for key in _KEYS if key in node]
        if not present:
            continue
        if not all(common.detachable(node, key, fragments) for key in present):
            continue
        if "if" not in keywords or "if" not in node or present == ["if"]:
            for key in present:  # annotations: no `if`, or nothing depends on it
                common.detach(node, key)
            continue
        branches = _branches(node, keywords, schema)
        if branches is not None:
            for key in present:
                common.detach(node, key)
            common.conjoin(node, branches)
    return schema


def _branches(node: dict[str, Any], keywords: frozenset[str], document: Any) -> Any | None:
    """`anyOf: [if ∧ then, ¬if ∧ else]` flattened, or None when `if` has no exact complement."""
    condition = node["if"]
    if any(common.has_referable(node.get(key)) for key in _KEYS):
        return None  # copies would duplicate an `$id` or anchor
    if not all(common.fully_enforceable(node.get(key), document, apply) for key in _KEYS):
        return None  # a keyword left in a copy would be reported there
    negated = complement(condition, keywords)
    if negated is None:
        return None
    then = copy.deepcopy(node.get("then", True))
    otherwise = copy.deepcopy(node.get("else", True))
    taken = common.conjunction([copy.deepcopy(condition), then])
    alternatives = negated["anyOf"] if _is_any_of(negated) else [negated]
    untaken = [common.conjunction([alternative, otherwise]) for alternative in alternatives]
    return common.disjunction([taken, *untaken])


def _is_any_of(schema: Any) -> bool:
    return isinstance(schema, dict) and set(schema) == {"anyOf"}
