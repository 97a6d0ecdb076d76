"""Config dataclasses as the single source of their command-line options.

A field declared with `option(default, help, choices=...)` becomes the flag `--field-name` (same
type, default and help); `add_options` adds them to a parser and `from_namespace` builds a
config back from the parsed arguments, so each option is documented once, on its field.
"""

from __future__ import annotations

import argparse
from dataclasses import MISSING, field, fields
from typing import Any, TypeVar

T = TypeVar("T")


def option(default: Any, help: str, *, choices: tuple[str, ...] | None = None) -> Any:
    """A dataclass field that is also a command-line option."""
    return field(default=default, metadata={"help": help, "choices": choices})


def add_options(parser: argparse.ArgumentParser | argparse._ArgumentGroup, cls: type) -> None:
    """Add one `--name` option per `option(...)` field of the dataclass `cls`, in field order."""
    cli_fields = [f for f in fields(cls) if "help" in f.metadata]
    for f in cli_fields:
        assert f.default is not MISSING, f"{cls.__name__}.{f.name}: an option needs a default"
        kw: dict[str, Any] = {"default": f.default, "help": f.metadata["help"]}
        if f.metadata["choices"]:
            kw["choices"] = f.metadata["choices"]
        else:
            kw["type"] = type(f.default)
        parser.add_argument("--" + f.name.replace("_", "-"), **kw)


def from_namespace(cls: type[T], args: argparse.Namespace, *, prefix: str = "", **given: Any) -> T:
    """The dataclass `cls` from parsed arguments.

    Each field takes, in order: its `given` value, the argument `<prefix><field>`, the argument
    `<field>`; a field with none of them keeps its default.
    """
    values = {}
    for f in fields(cls):
        for key in (prefix + f.name, f.name):
            if hasattr(args, key):
                values[f.name] = getattr(args, key)
                break
    return cls(**{**values, **given})
