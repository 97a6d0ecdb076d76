"""BFCL function docs -> OpenAI tools, as BFCL's OpenAI function-calling handler converts them."""

from __future__ import annotations

import ast
import copy
import json
import re
import zipfile
from pathlib import Path
from typing import Any

from bench.bfcl_check import extract_wheel
from bench.bfcl_data import CATEGORIES, load_category
from bench.bfcl_tools import FLOAT_HINT, PYTHON_HINT, to_openai_function, to_tools
from tests.unit.bench.bfcl_fixtures import AREA, real_wheel

DOC = {
    "name": "shop.order",
    "description": "Place an order.",
    "parameters": {
        "type": "dict",
        "properties": {
            "items": {
                "type": "array",
                "items": {
                    "type": "dict",
                    "properties": {"sku": {"type": "string"}, "qty": {"type": "integer"}},
                },
                "description": "Lines.",
            },
            "address": {
                "type": "dict",
                "properties": {"zip": {"type": "any", "description": "Zip."}},
                "description": "Where.",
            },
            "point": {"type": "tuple", "items": {"type": "float"}, "description": "Lat/lon."},
            "matrix": {
                "type": "array",
                "items": {"type": "array", "items": {"type": "float"}},
                "description": "Rows.",
            },
            "tip": {"type": "float", "description": "Tip.", "default": 0.0, "optional": True},
            "note": {"description": "No type given."},
            "mode": {"type": "String", "enum": ["a", "b"], "description": "Java-ish name."},
            "odd": {"type": "complex", "description": "Not in the table."},
        },
        "required": ["items"],
    },
}


def test_types_map_like_bfcls_openai_handler() -> None:
    fn = to_openai_function(DOC)
    props = fn["parameters"]["properties"]
    assert fn["parameters"]["type"] == "object"
    assert props["items"]["type"] == "array"
    assert props["items"]["items"]["type"] == "object"
    assert props["items"]["items"]["properties"]["qty"] == {"type": "integer"}
    assert props["address"]["type"] == "object"
    assert props["address"]["properties"]["zip"]["type"] == "string"  # any -> string
    assert props["point"]["type"] == "array"  # tuple -> array
    assert props["point"]["items"] == {"type": "number"}  # items: type only, no format
    assert props["matrix"]["items"] == {"type": "array", "items": {"type": "number"}}
    assert props["tip"] == {
        "type": "number",
        "format": "float",
        "description": "Tip." + FLOAT_HINT,
        "default": 0.0,
        "optional": True,
    }
    assert props["note"]["type"] == "string"  # missing type -> string
    assert props["mode"] == {"type": "string", "enum": ["a", "b"], "description": "Java-ish name."}
    assert props["odd"]["type"] == "string"  # unknown type -> string
    assert fn["parameters"]["required"] == ["items"]


def test_name_description_and_strict() -> None:
    fn = to_openai_function(DOC, strict=True)
    assert fn["name"] == "shop_order"
    assert fn["description"] == "Place an order." + PYTHON_HINT
    assert list(fn) == ["name", "description", "parameters", "strict"]
    assert fn["strict"] is True
    assert "strict" not in to_openai_function(DOC)


def test_the_doc_is_not_modified() -> None:
    before = copy.deepcopy(DOC)
    to_tools([DOC, AREA])
    assert before == DOC


def test_tools_wrap_each_function() -> None:
    tools = to_tools([AREA])
    assert tools == [{"type": "function", "function": to_openai_function(AREA, strict=True)}]
    assert tools[0]["function"]["parameters"]["properties"]["base"] == {
        "type": "integer",
        "description": "Base.",
    }


def _bfcl_functions(root: Path) -> dict[str, Any]:
    """BFCL's own conversion functions, run from the wheel's source (its module pulls
    tree_sitter and more at import, so only the needed functions are compiled)."""
    from bfcl_eval.constants.enums import ModelStyle
    from bfcl_eval.constants.type_mappings import GORILLA_TO_OPENAPI

    namespace: dict[str, Any] = {"copy": copy, "json": json, "re": re, "ModelStyle": ModelStyle}
    wanted = {
        "bfcl_eval/model_handler/utils.py": {"_cast_to_openai_type", "convert_to_tool"},
        "bfcl_eval/utils.py": {
            "is_java",
            "is_js",
            "_get_language_specific_hint",
            "_func_doc_language_specific_pre_processing",
        },
    }
    for relative, names in wanted.items():
        tree = ast.parse((root / relative).read_text())
        body: list[ast.stmt] = [
            n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name in names
        ]
        exec(compile(ast.Module(body=body, type_ignores=[]), relative, "exec"), namespace)
    namespace["GORILLA_TO_OPENAPI"] = GORILLA_TO_OPENAPI
    return namespace


def test_matches_bfcl_on_every_entry(tmp_path: Path) -> None:
    """Byte for byte (key order included) against BFCL's handler on the real data."""
    wheel = real_wheel()
    from bench.bfcl_check import load_checker

    root = extract_wheel(wheel, tmp_path)
    load_checker(wheel, tmp_path)  # puts the extracted wheel on sys.path
    bfcl = _bfcl_functions(root)
    style = bfcl["ModelStyle"].OPENAI_COMPLETIONS
    checked = 0
    for category in CATEGORIES:
        for entry in load_category(wheel, category):
            docs = bfcl["_func_doc_language_specific_pre_processing"](
                copy.deepcopy(entry.functions), category
            )
            expected = bfcl["convert_to_tool"](docs, bfcl["GORILLA_TO_OPENAPI"], style)
            assert json.dumps(to_tools(entry.functions, strict=None)) == json.dumps(expected)
            checked += 1
    assert checked > 2000
    with zipfile.ZipFile(wheel) as archive:
        assert any(n.endswith("model_handler/utils.py") for n in archive.namelist())
