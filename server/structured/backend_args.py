"""Which structured-outputs backend a vLLM command line selects, and the check that it is ours.

The gateway's schema policy assumes llguidance (`guidance`). vLLM's default (`auto`) and every
other backend enforce less, so an engine argument that names another backend, or a
`--structured-outputs-config` without a backend (which means `auto`), is refused. The same parser
checks the shipped manifests (tests/unit/deploy).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from server.structured.keywords import BACKEND

CONFIG_FLAG = "--structured-outputs-config"
_BACKEND_FLAGS = (f"{CONFIG_FLAG}.backend", "--guided-decoding-backend")
INSTEAD = (
    "set the backend with structserve's --structured-outputs-config "
    "(env STRUCTSERVE_STRUCTURED_OUTPUTS_CONFIG), whose default is "
    '\'{"backend": "guidance", "disable_any_whitespace": true}\''
)


@dataclass(frozen=True)
class BackendSetting:
    """One argument that sets the structured-outputs backend, and the backend it names."""

    arg: str  # as written, `--flag=value` or `--flag value`
    backend: str | None  # None: the setting names no backend (vLLM then uses `auto`)
    config: dict[str, object] | None = None  # the parsed --structured-outputs-config JSON


def _flag_name(arg: str) -> str:
    """`--structured_outputs_config.backend=x` -> `--structured-outputs-config.backend`."""
    name = arg.split("=", 1)[0]
    head, dot, tail = name.partition(".")
    return head.replace("_", "-") + dot + tail


def _parse(flag: str, value: str, arg: str) -> BackendSetting:
    if flag != CONFIG_FLAG:
        return BackendSetting(arg, value.strip().strip("'\""))
    try:
        config = json.loads(value)
    except ValueError:
        return BackendSetting(arg, None)
    if not isinstance(config, dict):
        return BackendSetting(arg, None)
    backend = config.get("backend")
    return BackendSetting(arg, str(backend) if backend is not None else None, config)


def backend_settings(argv: Sequence[str]) -> list[BackendSetting]:
    """Every argument of a vLLM command line that sets the structured-outputs backend.

    Args:
        argv: vLLM arguments (`--flag=value` or `--flag value` forms).

    Returns:
        The settings in order (vLLM keeps the last one of a repeated flag).
    """
    found: list[BackendSetting] = []
    for i, arg in enumerate(argv):
        flag = _flag_name(arg)
        if flag not in (CONFIG_FLAG, *_BACKEND_FLAGS):
            continue
        if "=" in arg:
            value = arg.split("=", 1)[1]
        else:
            value = argv[i + 1] if i + 1 < len(argv) else ""
            arg = f"{arg} {value}"
        found.append(_parse(flag, value, arg))
    return found


def check_backend_args(argv: Sequence[str]) -> None:
    """Refuse engine arguments that select any backend but guidance.

    Args:
        argv: the extra vLLM arguments (`structserve serve ... -- ARGS`, `--engine-args`).

    Raises:
        ValueError: naming the offending argument and the setting to use instead.
    """
    for setting in backend_settings(argv):
        if setting.backend != BACKEND:
            named = (
                f"selects the {setting.backend!r} backend"
                if setting.backend
                else "names no backend, so vLLM would use 'auto' (xgrammar first)"
            )
            raise ValueError(
                f"engine argument {setting.arg!r} {named}; structserve's structured-output "
                f"guarantees need the {BACKEND!r} backend: drop it and {INSTEAD}"
            )
