"""Scoring with BFCL's own AST checker, imported from the bfcl-eval wheel without its dependencies.

`bfcl_eval.eval_checker.ast_eval.ast_checker` needs only the standard library and two small
constants modules, except for one import: `bfcl_eval.constants.model_config`, which pulls every
provider SDK (anthropic, google, cohere, mistral, ...) to build its model table. The checker
reads a single field of that table, `underscore_to_dot` (whether the model's function names had
dots replaced by underscores, as BFCL's OpenAI function-calling handler does). `load_checker`
extracts the wheel under the cache and registers a stand-in for that one module whose table
answers `underscore_to_dot=True` for any model, which is exactly what BFCL uses for OpenAI FC
models. The wheel's code is run, never copied.

Decoding follows BFCL's OpenAI FC handler: each tool call becomes `{name: json.loads(args)}`;
a response without tool calls is its text, which does not decode (irrelevance: no call = right).
"""

from __future__ import annotations

import json
import sys
import types
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.bfcl_data import Entry

MODEL_NAME = "structserve-bfcl"
"""The model name the checker sees (its table answers underscore_to_dot=True for any name)."""

_STUB = "bfcl_eval.constants.model_config"


@dataclass(frozen=True)
class Call:
    """One tool call as the server returned it (arguments: the raw JSON text)."""

    name: str
    arguments: str


@dataclass(frozen=True)
class Verdict:
    """BFCL's verdict on one response.

    Attributes:
        valid: counted as correct by BFCL's AST accuracy.
        error_type: BFCL's error type (e.g. `simple_function_checker:wrong_func_name`), or ours
            for decoding (`ast_decoder:decoder_failed`); None when valid.
        error: the first error message, shortened.
    """

    valid: bool
    error_type: str | None = None
    error: str | None = None


class _AnyModel:
    underscore_to_dot = True


class _ModelTable(dict[str, Any]):
    def __missing__(self, key: str) -> _AnyModel:
        return _AnyModel()


def extract_wheel(wheel: Path, into: Path) -> Path:
    """The wheel's files under `into/<wheel stem>/` (extracted once); returns that folder."""
    folder = into / wheel.stem
    marker = folder / ".complete"
    if not marker.is_file():
        with zipfile.ZipFile(wheel) as archive:
            archive.extractall(folder)
        marker.write_text("ok\n")
    return folder


@dataclass(frozen=True)
class Checker:
    """BFCL's `ast_checker` and its `Language.PYTHON`, loaded from the wheel."""

    ast_checker: Callable[..., dict[str, Any]]
    python: Any

    def check(self, entry: Entry, calls: list[Call] | None, content: str | None) -> Verdict:
        """BFCL's verdict on a response to `entry` (see the module doc for decoding).

        Args:
            entry: the test case (its original function docs and possible answers).
            calls: the response's tool calls (None or [] when it made none).
            content: the response's text.
        """
        decoded = decode(calls, content)
        if entry.ground_truth is None:  # irrelevance: right when nothing decodes to a call
            if decoded is not None and not is_empty(decoded):
                return Verdict(False, "irrelevance_error:decoder_success", "made a call")
            return Verdict(True)
        if decoded is None:
            return Verdict(False, "ast_decoder:decoder_failed", "no tool call decodes")
        if not is_call_list(decoded):
            return Verdict(False, "ast_decoder:decoder_wrong_output_format", None)
        try:
            result = self.ast_checker(
                entry.functions,
                decoded,
                entry.ground_truth,
                self.python,
                entry.category,
                MODEL_NAME,
            )
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
            return Verdict(False, "checker_exception", f"{type(exc).__name__}: {exc}"[:300])
        if result["valid"]:
            return Verdict(True)
        errors = result.get("error") or [""]
        return Verdict(False, result.get("error_type"), str(errors[0])[:300])


def load_checker(wheel: Path, into: Path) -> Checker:
    """Import BFCL's AST checker from `wheel` (extracted under `into`) with the stand-in table.

    Args:
        wheel: the bfcl-eval wheel.
        into: where to extract it (the structserve cache).
    """
    root = extract_wheel(wheel, into)
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    if _STUB not in sys.modules:
        stub = types.ModuleType(_STUB)
        stub.MODEL_CONFIG_MAPPING = _ModelTable()  # type: ignore[attr-defined]
        sys.modules[_STUB] = stub
    from bfcl_eval.constants.enums import Language
    from bfcl_eval.eval_checker.ast_eval.ast_checker import ast_checker

    return Checker(ast_checker, Language.PYTHON)


def decode(calls: list[Call] | None, content: str | None) -> list[dict[str, Any]] | None:
    """The response as BFCL's decoded output (`[{name: {param: value}}]`); None: undecodable.

    No tool calls: the text decodes only when empty (to `[]`), as in BFCL's handler.
    """
    if not calls:
        return [] if not content else None
    out = []
    for call in calls:
        try:
            out.append({call.name: json.loads(call.arguments)})
        except ValueError:
            return None
    return out


def is_call_list(decoded: list[dict[str, Any]]) -> bool:
    """True for `[{name: {params}}, ...]` (each item one name mapping to an object)."""
    return all(
        isinstance(item, dict) and len(item) == 1 and isinstance(next(iter(item.values())), dict)
        for item in decoded
    )


def is_empty(decoded: list[dict[str, Any]]) -> bool:
    """BFCL's "no call" for relevance: not call-shaped, `[]` or `[{}]`."""
    return not is_call_list(decoded) or not decoded or (len(decoded) == 1 and not decoded[0])
