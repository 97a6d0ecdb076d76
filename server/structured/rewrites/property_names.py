"""`propertyNames` (pattern, enum, const, length, `true`, `false`) as key constraints the backend
enforces: `properties` a name may not take become `false`, the keys left to
`additionalProperties` are named (finite names) or matched by a `patternProperties` regex (the
name constraint), and `additionalProperties` becomes `false`.

Exact by construction: a key the name constraint rejects can no longer appear, a key it accepts
keeps the schema it had (`patternProperties` regexes, like `propertyNames`' `pattern`, match
unanchored). Left in place (so refused under strict) when the node already has
`patternProperties` (regexes cannot be intersected), when a pattern is combined with lengths,
when a `$ref` or anchor points into what would change, or when an `unevaluatedProperties`
elsewhere could see the extra keys evaluated.
"""

from __future__ import annotations

import copy
from typing import Any

import jsonschema
from jsonschema import Draft6Validator, Draft7Validator, Draft201909Validator, Draft202012Validator

from server.structured.walk import subschemas

MAX_NAMES = 1000
"""Most enumerated names (`enum`/`const`) turned into `properties`."""

_ANNOTATIONS = frozenset(
    {"$comment", "title", "description", "examples", "default", "deprecated", "readOnly",
     "writeOnly", "$schema"}
)  # fmt: skip
_CHANGED = ("propertyNames", "properties", "patternProperties", "additionalProperties")
_UNDERSTOOD = _ANNOTATIONS | {"type", "enum", "const", "pattern", "minLength", "maxLength"}


def apply(schema: Any) -> Any:
    """Rewrite `schema` (a private copy: may be changed in place); returns the result."""
    if not in_dialect(schema, Draft6Validator, Draft7Validator, Draft201909Validator):
        return schema  # drafts 3 and 4: `propertyNames` is an unknown keyword, an annotation
    nodes = list(subschemas(schema))
    guarded = any("unevaluatedProperties" in node for _, node in nodes)
    refs = local_refs(nodes)
    for pointer, node in nodes:
        if "propertyNames" in node and not touched(refs, pointer, _CHANGED):
            _rewrite(node, evaluated_matters=guarded)
    return schema


def in_dialect(schema: Any, *older: type) -> bool:
    """Whether `schema` is read as Draft 2020-12 (the default when `$schema` is absent) or one of
    the `older` validator classes: keywords mean what these steps assume only there."""
    if not isinstance(schema, dict | bool):
        return False  # not a schema: nothing to rewrite
    cls = jsonschema.validators.validator_for(schema, default=Draft202012Validator)
    return cls in (Draft202012Validator, *older)


def local_refs(nodes: list[tuple[str, dict[str, Any]]]) -> list[str]:
    """Every `$ref` target of a document's subschemas as a JSON pointer ("#/a/b" -> "/a/b"),
    plus "@anchor" when a reference is not a plain pointer or the document names subschemas by
    `$anchor` or a nested `$id`."""
    refs = [n["$ref"] for _, n in nodes if isinstance(n.get("$ref"), str)]
    found = [ref[1:] for ref in refs if ref == "#" or (ref.startswith("#/") and "%" not in ref)]
    if len(found) < len(refs) or any(
        {"$anchor", "$dynamicAnchor"} & set(n) or ("$id" in n and p) for p, n in nodes
    ):
        found.append("@anchor")  # not a plain JSON pointer: could name anything
    return found


def touched(refs: list[str], pointer: str, keys: tuple[str, ...]) -> bool:
    """Whether a reference (see `local_refs`) may point into `keys` of the node at `pointer`, so
    that a rewrite replacing or moving them would change what it names."""
    prefixes = tuple(f"{pointer}/{key}" for key in keys)
    return "@anchor" in refs or any(ref.startswith(prefixes) for ref in refs)


def _rewrite(node: dict[str, Any], *, evaluated_matters: bool) -> None:
    names = node["propertyNames"]
    if names is False or _excludes_strings(names):
        _forbid_keys(node)  # the only object with no bad key: {}
        return
    if names is True or (isinstance(names, dict) and not set(names) - _ANNOTATIONS - {"type"}):
        del node["propertyNames"]  # every key is a string
        return
    if not isinstance(names, dict) or set(names) - _UNDERSTOOD or "patternProperties" in node:
        return
    if evaluated_matters and "additionalProperties" not in node:
        return  # new properties/patternProperties would count as "evaluated"
    if "enum" in names or "const" in names:
        done = _restrict_to_names(node, names)
    else:
        done = _restrict_to_regex(node, names)
    if done:
        del node["propertyNames"]


def _forbid_keys(node: dict[str, Any]) -> None:
    if _required(node):
        return  # no object is valid; left for the backend to refuse
    if not node.get("properties") and not node.get("patternProperties"):
        node["maxProperties"] = 0  # the backend takes it only without optional properties
    else:
        for key in ("properties", "patternProperties"):
            node[key] = dict.fromkeys(node.get(key, {}), False)
        node["additionalProperties"] = False
    del node["propertyNames"]


def _required(node: dict[str, Any]) -> list[Any]:
    required = node.get("required", [])
    return required if isinstance(required, list) else []  # draft 3: a boolean per property


def _excludes_strings(names: Any) -> bool:
    if not isinstance(names, dict) or "type" not in names:
        return False
    types = names["type"]
    return "string" not in ([types] if isinstance(types, str) else types)


def _restrict_to_names(node: dict[str, Any], names: dict[str, Any]) -> bool:
    """Finite names: each allowed name not yet a property gets `additionalProperties`' schema."""
    candidates = list(names.get("enum", [])) + ([names["const"]] if "const" in names else [])
    check = Draft202012Validator(names)
    allowed = list(dict.fromkeys(c for c in candidates if isinstance(c, str) and check.is_valid(c)))
    if len(allowed) > MAX_NAMES or set(_required(node)) - set(allowed):
        return False  # too many, or no object is valid (left for the backend to refuse)
    properties = node.setdefault("properties", {})
    extra = node.get("additionalProperties", True)
    for name in list(properties):
        if name not in allowed:
            properties[name] = False
    if extra is not False:
        for name in allowed:
            properties.setdefault(name, copy.deepcopy(extra))
    node["additionalProperties"] = False
    return True


def _restrict_to_regex(node: dict[str, Any], names: dict[str, Any]) -> bool:
    """Infinite names: additional keys must match the name regex."""
    regex = _name_regex(names)
    if regex is None:
        return False
    check = Draft202012Validator(names)
    properties = node.get("properties", {})
    extra = node.get("additionalProperties", True)
    kept = [name for name in properties if check.is_valid(name)]
    if not all(check.is_valid(name) for name in _required(node)):
        return False  # no object is valid: left for the backend to refuse
    if kept and extra not in (True, {}):
        return False  # the regex's schema would also apply to these named properties
    for name in properties:
        if name not in kept:
            properties[name] = False
    if extra is not False:
        node["patternProperties"] = {regex: extra}
    node["additionalProperties"] = False
    return True


def _name_regex(names: dict[str, Any]) -> str | None:
    """One regex for the name constraint (unanchored, as `pattern` is), None if not expressible."""
    low, high = names.get("minLength", 0), names.get("maxLength")
    lengths = low != 0 or high is not None
    if "pattern" in names:
        return None if lengths else str(names["pattern"])
    return f"^[\\s\\S]{{{int(low)},{'' if high is None else int(high)}}}$"
