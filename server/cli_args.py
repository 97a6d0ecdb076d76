"""An argparse parser generated from `Settings`, so `--help` documents every field."""

from __future__ import annotations

import argparse
import types
import typing
from pathlib import Path
from typing import Any

from pydantic.fields import FieldInfo

from server.settings import Settings


def _is_list(annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _is_list(typing.get_args(annotation)[0])
    return origin is list


def _is_bool(annotation: Any) -> bool:
    if annotation is bool:
        return True
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return bool in typing.get_args(annotation)
    return False


def _help(name: str, field: FieldInfo) -> str:
    default = field.get_default(call_default_factory=True)
    if isinstance(default, list):
        default = ",".join(str(v) for v in default) or "none"
    env = f"STRUCTSERVE_{name.upper()}"
    return f"{field.description} [env {env}; default: {default}]"


def build_parser(prog: str = "structserve serve") -> argparse.ArgumentParser:
    """A parser with one flag per settings field; unset flags stay absent from the result."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Start the structserve gateway and its vLLM engine. Arguments after `--` "
        "are passed to vLLM verbatim. Precedence: flag > env var > --config YAML > default.",
        argument_default=argparse.SUPPRESS,
    )
    parser.add_argument("--config", type=Path, help="YAML file with settings (field: value).")
    for name, field in Settings.model_fields.items():
        flag = "--" + name.replace("_", "-")
        if _is_bool(field.annotation):
            parser.add_argument(
                flag, action=argparse.BooleanOptionalAction, help=_help(name, field)
            )
        elif _is_list(field.annotation):
            parser.add_argument(flag, action="append", metavar="VALUE", help=_help(name, field))
        else:
            parser.add_argument(flag, metavar=name.upper(), help=_help(name, field))
    return parser


def split_engine_args(argv: list[str]) -> tuple[list[str], list[str]]:
    """Split `argv` at the first `--`: (structserve args, vLLM args)."""
    if "--" in argv:
        cut = argv.index("--")
        return argv[:cut], argv[cut + 1 :]
    return argv, []


def cli_values(namespace: argparse.Namespace, passthrough: list[str]) -> dict[str, Any]:
    """The explicitly given settings, lists flattened from repeated and comma-separated flags."""
    values = {k: v for k, v in vars(namespace).items() if k != "config"}
    for key, value in list(values.items()):
        if isinstance(value, list) and key != "engine_args":
            values[key] = [part for item in value for part in str(item).split(",") if part]
    if passthrough:
        values["engine_args"] = [*values.get("engine_args", []), *passthrough]
    return values
