"""Every vLLM flag the manifests and the compose file pass exists in the installed vLLM.

Read from vLLM's argument definitions as text (importing vLLM takes tens of seconds): a flag is
known when `"--flag"` is written there or it is a field of EngineArgs / FrontendArgs, which
vLLM turns into flags. Skipped where vLLM is not installed.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest
import yaml

from tests.unit.deploy.conftest import DEPLOY, KUSTOMIZATIONS
from tests.unit.deploy.k8s_objects import engine_containers


def _vllm_root() -> Path | None:
    spec = importlib.util.find_spec("vllm")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _known_flags(root: Path) -> set[str]:
    sources = [root / "engine" / "arg_utils.py", *sorted(root.glob("entrypoints/**/cli_args.py"))]
    flags: set[str] = set()
    for path in sources:
        text = path.read_text()
        flags |= set(re.findall(r'"(--[a-z0-9][a-z0-9-]*)"', text))
        for block in re.findall(
            r"\nclass \w*(?:EngineArgs|FrontendArgs)\b.*?(?=\nclass |\Z)", text, re.S
        ):
            flags |= {"--" + f.replace("_", "-") for f in re.findall(r"\n    (\w+): ", block)}
    return flags


def _used_flags(rendered) -> dict[str, set[str]]:
    used: dict[str, set[str]] = {}
    for name in KUSTOMIZATIONS:
        for t, c in engine_containers(rendered[name]):
            for arg in c.get("args", []):
                if arg.startswith("--"):
                    used.setdefault(arg.split("=")[0], set()).add(f"{name}:{t.name}")
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    for arg in compose["services"]["engine"]["command"]:
        used.setdefault(arg.split("=")[0], set()).add("compose:engine")
    return used


def test_vllm_knows_every_flag_we_pass(rendered) -> None:
    root = _vllm_root()
    if root is None:
        pytest.skip("vLLM is not installed here")
    known = _known_flags(root)
    assert {"--model", "--host", "--port", "--headless"} <= known, "flag discovery broke"
    unknown = {flag: where for flag, where in _used_flags(rendered).items() if flag not in known}
    assert not unknown, f"flags the installed vLLM does not define: {unknown}"


def test_engine_modules_exist() -> None:
    root = _vllm_root()
    if root is None:
        pytest.skip("vLLM is not installed here")
    assert (root / "entrypoints" / "openai" / "api_server.py").is_file()
    assert "def main" in (root / "entrypoints" / "cli" / "main.py").read_text()
