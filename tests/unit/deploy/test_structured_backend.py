"""Every shipped engine command runs the structured-outputs backend the gateway's policy assumes.

vLLM's default (`auto`, xgrammar first) silently ignores keywords the policy counts as enforced,
so each engine command (every rendered kustomization, the compose file, the Dockerfile's example)
must pass `--structured-outputs-config` naming `guidance` with `disable_any_whitespace`, and no
argument may select another backend. Parsed by server.structured.backend_args, the same parser
`structserve serve` uses on its extra engine arguments.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import yaml

from server.structured.backend_args import backend_settings, check_backend_args
from tests.unit.deploy.conftest import DEPLOY, KUSTOMIZATIONS, REPO
from tests.unit.deploy.k8s_objects import engine_containers


def engine_commands(rendered: dict[str, list[dict[str, Any]]]) -> dict[str, list[str]]:
    """Each shipped engine command's arguments, by where it is defined."""
    found = {
        f"{name}:{t.name}/{c['name']}": list(c.get("args", []))
        for name in KUSTOMIZATIONS
        for t, c in engine_containers(rendered[name])
    }
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    found["compose:engine"] = list(compose["services"]["engine"]["command"])
    return found


def backend_problem(args: list[str]) -> str | None:
    """Why an engine command does not run guidance without free whitespace (None: it does)."""
    settings = backend_settings(args)
    if not settings:
        return "no --structured-outputs-config (vLLM would use 'auto')"
    try:
        check_backend_args(args)
    except ValueError as exc:
        return str(exc)
    config = settings[-1].config or {}
    if config.get("disable_any_whitespace") is not True:
        return f'{settings[-1].arg!r} lacks "disable_any_whitespace": true'
    return None


def test_every_engine_command_runs_guidance(rendered) -> None:  # type: ignore[no-untyped-def]
    commands = engine_commands(rendered)
    sources = {where.split(":")[0] for where in commands}
    assert sources == {*KUSTOMIZATIONS, "compose"}, f"engine discovery broke: {sorted(commands)}"
    problems = {where: backend_problem(args) for where, args in commands.items()}
    assert not {k: v for k, v in problems.items() if v}, problems


def test_dockerfile_engine_example_passes_the_flag() -> None:
    text = (REPO / "Dockerfile").read_text()
    examples = [m.end() for m in re.finditer(r"vllm\.entrypoints\.openai\.api_server", text)]
    assert examples, "the Dockerfile no longer shows the engine command"
    for end in examples:
        command = text[end : end + 200]
        flag = re.search(r"--structured-outputs-config '(\{[^']*\})'", command)
        assert flag is not None, f"engine example without the flag: {command!r}"
        assert json.loads(flag.group(1)) == {"backend": "guidance", "disable_any_whitespace": True}


GOOD = '{"backend": "guidance", "disable_any_whitespace": true}'


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["--port=8000"], "no --structured-outputs-config"),
        ([f"--structured-outputs-config={GOOD}"], None),
        (["--structured-outputs-config", GOOD], None),
        (['--structured-outputs-config={"backend": "xgrammar"}'], "'xgrammar'"),
        (['--structured-outputs-config={"disable_any_whitespace": true}'], "names no backend"),
        ([f"--structured-outputs-config={GOOD}", "--guided-decoding-backend=auto"], "'auto'"),
        (
            [f"--structured_outputs_config={GOOD}", "--structured-outputs-config.backend", "x"],
            "'x'",
        ),
        (['--structured-outputs-config={"backend": "guidance"}'], "disable_any_whitespace"),
    ],
)
def test_backend_problem_spots_every_form(args: list[str], problem: str | None) -> None:
    found = backend_problem(args)
    assert (found is None) if problem is None else (found is not None and problem in found), found
