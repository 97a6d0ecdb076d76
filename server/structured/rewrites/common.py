"""Shared helpers of the rewrite steps: the schema's draft, subschemas children first, and edits
that keep every other keyword at its JSON pointer (so a keyword no step can rewrite is still
reported where the client wrote it).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any

import jsonschema

from server.structured.walk import escape, subschemas

_REFERABLE = ("$id", "$anchor", "$dynamicAnchor", "$recursiveAnchor", "id")
_MOVED = "x-structserve-moved"
_STANDALONE = frozenset(
    {
        "type", "anyOf", "const", "enum", "required", "minLength", "maxLength", "pattern",
        "minItems", "maxItems", "minProperties", "maxProperties",
    }
)  # fmt: skip
"""Keywords whose meaning depends on no sibling in any draft (safe to merge into a node; bounds
are not: draft 4's boolean `exclusiveMaximum` modifies `maximum`)."""


def draft_keywords(schema: Any) -> frozenset[str]:
    """The keywords the validator of the schema's draft asserts (Draft 2020-12 when absent).

    A keyword outside this set is an annotation for that draft (`dependentRequired` in draft 7,
    `dependencies` or `if` where the draft predates them): it never changes validity.
    """
    if not isinstance(schema, dict):
        return frozenset(jsonschema.Draft202012Validator.VALIDATORS)
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    return frozenset(cls.VALIDATORS)


def uses_unevaluated(schema: Any) -> bool:
    """Whether any subschema has `unevaluatedProperties`/`unevaluatedItems`: they see which
    keywords evaluated a property, and the `anyOf` branches the rewrites add evaluate differently
    from the `not`/`if`/dependency they replace, so the rewrites leave such documents alone."""
    names = ("unevaluatedProperties", "unevaluatedItems")
    return any(name in node for _, node in subschemas(schema) for name in names)


def children_first(schema: Any) -> list[dict[str, Any]]:
    """Every object subschema of `schema`, each one after all of its descendants."""
    return [node for _, node in reversed(list(subschemas(schema)))]


def rewritable_nodes(
    schema: Any,
) -> Iterator[tuple[dict[str, Any], frozenset[str], list[str]]]:
    """The object subschemas a rewrite may change, children first, each with the document's
    draft keywords and `pointer_refs` (both taken before any change): none when the document
    uses unevaluated* (`uses_unevaluated`), no node whose keywords its `$ref` makes ignored."""
    if uses_unevaluated(schema):
        return
    keywords = draft_keywords(schema)
    fragments = pointer_refs(schema)
    for node in children_first(schema):
        if not ref_siblings_ignored(node, keywords):
            yield node, keywords, fragments


def ref_siblings_ignored(node: dict[str, Any], keywords: frozenset[str]) -> bool:
    """Whether the validator ignores `node`'s other keywords because of its `$ref` (drafts up to
    7, which have neither `$dynamicRef` nor `$recursiveRef`)."""
    modern = "$dynamicRef" in keywords or "$recursiveRef" in keywords
    return "$ref" in node and not modern


def conjoin(node: dict[str, Any], extra: Any) -> None:
    """Add `extra` as one more conjunct of `node`, in place, moving none of its keywords: its
    keywords merged into `node` when `node` has none of them and none depends on a sibling
    (`type`, `anyOf`, bounds, ...), else `extra` appended to `node`'s `allOf`."""
    if extra is True:
        return
    if isinstance(extra, dict) and all(k in _STANDALONE and k not in node for k in extra):
        node.update(extra)
        return
    node.setdefault("allOf", []).append(extra)


def pointer_refs(document: Any) -> list[str]:
    """The fragments of every `$ref` in the document (JSON pointers, anchors, or empty)."""
    return [
        sub["$ref"].partition("#")[2]
        for _, sub in subschemas(document)
        if isinstance(sub.get("$ref"), str)
    ]


def detachable(node: dict[str, Any], key: str, fragments: list[str]) -> bool:
    """Whether `node[key]` may be removed: no pointer `$ref` (of `pointer_refs`) names `key`."""
    token = "/" + escape(key)
    return key in node and not any(token in fragment for fragment in fragments)


def detach(node: dict[str, Any], key: str) -> None:
    """Remove `node[key]` (checked with `detachable`), a keyword a step has replaced.

    Subschemas inside it that carry an `$id` or anchor (targets of `$ref` by URI) stay
    reachable: they move under `node`'s `$defs`, where the same base URI applies.
    """
    value = node.pop(key)
    if has_referable(value):
        defs = node.setdefault("$defs" if "definitions" not in node else "definitions", {})
        defs[f"{_MOVED}-{key}-{len(defs)}"] = value


def has_referable(value: Any) -> bool:
    """Whether a subschema of `value` has an `$id` or anchor (a copy would duplicate it)."""
    return any(
        any(isinstance(node.get(name), str) for name in _REFERABLE) for _, node in subschemas(value)
    )


def disjunction(branches: list[Any]) -> Any:
    """The `anyOf` of `branches` with `false` branches dropped (`false` when none is left, the
    branch itself when only one is)."""
    kept = []
    for branch in branches:
        if branch is True:
            return True
        if branch is not False and branch not in kept:
            kept.append(branch)
    if not kept:
        return False
    return kept[0] if len(kept) == 1 else {"anyOf": kept}


def conjunction(parts: list[Any]) -> Any:
    """The `allOf` of `parts` with `true` parts dropped (`true` when none is left, the part itself
    when only one is, `false` when one is `false`)."""
    kept = [part for part in parts if part is not True]
    if any(part is False for part in kept):
        return False
    if not kept:
        return True
    return kept[0] if len(kept) == 1 else {"allOf": kept}


def property_is(name: str, schema: Any, *, typed: bool) -> dict[str, Any]:
    """Objects whose property `name` is absent (`schema` false) or, if required, matches `schema`;
    `typed` also rejects non-objects. Other properties stay free (`additionalProperties: true`
    is explicit, so a generation bound that closes objects leaves this branch alone)."""
    branch: dict[str, Any] = {"type": "object"} if typed else {}
    if schema is not False:
        branch["required"] = [name]
    branch["properties"] = {name: schema}
    branch["additionalProperties"] = True
    return branch


def not_in_pattern(words: set[str]) -> str:
    """A regex (the backend's syntax) matching exactly the strings not in `words` (a trie)."""
    alternatives = [] if "" in words else [""]
    heads = sorted({word[0] for word in words if word})
    excluded = "".join(_char(c) for c in heads)
    if {'"', "\\"} & set(heads) and min(heads) >= " ":
        # llguidance 1.7.6 lets a class that holds all 32 control characters match `"` and `\`
        alternatives.append(f"[^{excluded}\\x{{0}}](?s:.)*|\\x{{0}}(?s:.)*")
    else:
        alternatives.append(f"[^{excluded}](?s:.)*" if heads else "(?s:.)+")
    for head in heads:
        tails = {word[1:] for word in words if word[:1] == head}
        alternatives.append(_char(head) + not_in_pattern(tails))
    return "(?:" + "|".join(alternatives) + ")"


def _char(char: str) -> str:
    return char if char.isascii() and char.isalnum() else f"\\x{{{ord(char):x}}}"


def fully_enforceable(subschema: Any, document: Any, after: Callable[[Any], Any]) -> bool:
    """Whether the steps that run after `after` leave no unenforced keyword in `subschema`
    (rewritten alone, under `document`'s draft). A step that copies a subschema elsewhere checks
    this first, so a keyword that stays unenforced is reported where the client wrote it."""
    from server.structured.keywords import unenforced_keywords
    from server.structured.rewrites import STEPS  # the package imports this module

    if not isinstance(subschema, dict | bool):
        return True  # an absent keyword (None) asserts nothing
    result = copy.deepcopy(subschema)
    if isinstance(result, dict) and isinstance(document, dict) and "$schema" in document:
        result["$schema"] = document["$schema"]
    for step in STEPS[STEPS.index(after) + 1 :]:
        result = step(result)
    return not unenforced_keywords(result)
