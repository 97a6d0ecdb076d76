"""yamllint over every YAML file under deploy/ (settings: deploy/.yamllint.yaml)."""

from __future__ import annotations

import yaml
from yamllint import linter
from yamllint.config import YamlLintConfig

from tests.unit.deploy.conftest import DEPLOY


def test_every_deploy_yaml_is_lint_clean() -> None:
    config = YamlLintConfig(file=str(DEPLOY / ".yamllint.yaml"))
    files = sorted(p for p in DEPLOY.rglob("*") if p.suffix in {".yaml", ".yml"})
    assert len(files) >= 15, files
    problems = []
    for path in files:
        for problem in linter.run(path.read_text(), config, str(path)):
            problems.append(f"{path.relative_to(DEPLOY)}:{problem.line}: {problem.desc}")
    assert not problems, "\n".join(problems)


def test_embedded_patches_are_lint_clean() -> None:
    """The JSON 6902 patches inside the overlays are YAML too."""
    config = YamlLintConfig(file=str(DEPLOY / ".yamllint.yaml"))
    for path in sorted((DEPLOY / "k8s").rglob("kustomization.yaml")):
        for patch in yaml.safe_load(path.read_text()).get("patches", []):
            problems = list(linter.run(patch["patch"] + "\n", config))
            assert not problems, f"{path}: {[p.desc for p in problems]}"
