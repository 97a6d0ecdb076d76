"""BFCL function docs -> OpenAI `tools`, following BFCL's own OpenAI function-calling handler.

BFCL's docs use Python-ish types; its OpenAI-FC handler (bfcl_eval `model_handler/utils.py`
`convert_to_tool` with `GORILLA_TO_OPENAPI`, after `_func_doc_language_specific_pre_processing`)
turns them into tools by these rules, reproduced here:

- the description gets " Note that the provided function is in Python 3 syntax." (Python
  categories, all of ours);
- a name's dots become underscores (OpenAI names allow `[a-zA-Z0-9_-]`);
- `parameters.type` becomes "object";
- each property's type maps through the table below (dict->object, float->number,
  tuple->array, any->string, ...); a missing or unknown type becomes "string"; a "float"
  property also gets `"format": "float"` and " This is a float type value." in its description;
- an array's or object's `properties` are converted the same way (recursively); otherwise its
  `items.type` is mapped, and one level further: `items.items.type` of an array of arrays, or
  `items.properties` of an array of objects.

Other keys (`required`, `default`, `optional`, `enum`, ...) pass through untouched. structserve's
own keys are added last: `strict` on each function when asked.
"""

from __future__ import annotations

import copy
from typing import Any

PYTHON_HINT = " Note that the provided function is in Python 3 syntax."
FLOAT_HINT = " This is a float type value."

# BFCL's GORILLA_TO_OPENAPI table (constants/type_mappings.py), as data.
TYPE_MAP: dict[str, str] = {
    "integer": "integer",
    "number": "number",
    "float": "number",
    "string": "string",
    "boolean": "boolean",
    "bool": "boolean",
    "array": "array",
    "list": "array",
    "dict": "object",
    "object": "object",
    "tuple": "array",
    "any": "string",
    "byte": "integer",
    "short": "integer",
    "long": "integer",
    "double": "number",
    "char": "string",
    "ArrayList": "array",
    "Array": "array",
    "HashMap": "object",
    "Hashtable": "object",
    "Queue": "array",
    "Stack": "array",
    "Any": "string",
    "String": "string",
    "Bigint": "integer",
}


def _convert_items(items: dict[str, Any]) -> None:
    """An array's `items`: map its type, then one level further (as BFCL does)."""
    items["type"] = TYPE_MAP[items["type"]]
    inner = items.get("items")
    if items["type"] == "array" and isinstance(inner, dict):
        inner["type"] = TYPE_MAP[inner["type"]]
    elif items["type"] == "object" and "properties" in items:
        convert_properties(items["properties"])


def convert_properties(properties: dict[str, Any]) -> dict[str, Any]:
    """Map the types of a `properties` object in place (BFCL's rules, see the module doc).

    Args:
        properties: name -> property schema in BFCL types.

    Returns:
        the same object, converted.
    """
    for prop in properties.values():
        bfcl_type = prop.get("type")
        if bfcl_type == "float":
            prop["format"] = "float"
            prop["description"] = prop.get("description", "") + FLOAT_HINT
        prop["type"] = TYPE_MAP.get(bfcl_type, "string") if bfcl_type is not None else "string"
        if prop["type"] in ("array", "object"):
            if "properties" in prop:
                convert_properties(prop["properties"])
            elif "items" in prop:
                _convert_items(prop["items"])
    return properties


def to_openai_function(doc: dict[str, Any], *, strict: bool | None = None) -> dict[str, Any]:
    """One BFCL function doc as an OpenAI function definition (a converted deep copy).

    Keys come in the order vLLM's request model serialises them (name, description,
    parameters, strict), so the tool a template sees equals the tool as sent.

    Args:
        doc: BFCL function doc (`name`, `description`, `parameters`).
        strict: the `strict` flag to set (None: leave it out).
    """
    doc = copy.deepcopy(doc)
    parameters = doc["parameters"]
    parameters["type"] = "object"
    convert_properties(parameters.setdefault("properties", {}))
    function: dict[str, Any] = {
        "name": doc["name"].replace(".", "_"),
        "description": doc.get("description", "") + PYTHON_HINT,
        "parameters": parameters,
    }
    if strict is not None:
        function["strict"] = strict
    return function


def to_tools(docs: list[dict[str, Any]], *, strict: bool | None = True) -> list[dict[str, Any]]:
    """BFCL function docs as the OpenAI chat `tools` list (`{"type": "function", ...}`).

    Args:
        docs: the entry's function docs.
        strict: `strict` on each function (True: arguments constrained to the schema).
    """
    return [{"type": "function", "function": to_openai_function(d, strict=strict)} for d in docs]
