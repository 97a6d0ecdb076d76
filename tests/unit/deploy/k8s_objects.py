"""Read-only views over rendered Kubernetes objects, for the wiring checks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tests.unit.deploy.kustomize_lite import labels_match

Obj = dict[str, Any]
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet"}


@dataclass(frozen=True)
class PodTemplate:
    """A pod template and the object that owns it, with the labels its pods will carry."""

    owner: Obj
    role: str  # "pod" for workloads; "leader" / "worker" inside a LeaderWorkerSet
    labels: dict[str, str]
    spec: dict[str, Any]

    @property
    def name(self) -> str:
        """`Kind/name[/role]` for messages."""
        base = f"{self.owner['kind']}/{self.owner['metadata']['name']}"
        return base if self.role == "pod" else f"{base}/{self.role}"

    def containers(self, *, init: bool = False) -> list[dict[str, Any]]:
        """The template's containers (and its init containers when `init`)."""
        found = list(self.spec.get("containers", []))
        return found + list(self.spec.get("initContainers", [])) if init else found

    def port_names(self) -> set[str]:
        """Names of every container port of the template."""
        return {p["name"] for c in self.containers() for p in c.get("ports", []) if "name" in p}


def by_kind(objects: list[Obj], kind: str) -> list[Obj]:
    """Objects of one kind."""
    return [obj for obj in objects if obj["kind"] == kind]


def named(objects: list[Obj], kind: str, name: str) -> Obj | None:
    """The object of `kind` called `name`, or None."""
    return next((o for o in by_kind(objects, kind) if o["metadata"]["name"] == name), None)


def need(objects: list[Obj], kind: str, name: str) -> Obj:
    """The object of `kind` called `name`; fails the test when there is none."""
    found = named(objects, kind, name)
    assert found is not None, f"no {kind}/{name}"
    return found


def pod_templates(objects: list[Obj]) -> list[PodTemplate]:
    """Every pod template, with the labels controllers add (LeaderWorkerSet's group name)."""
    found = []
    for obj in objects:
        if obj["kind"] in WORKLOAD_KINDS:
            template = obj["spec"]["template"]
            labels = dict(template["metadata"].get("labels", {}))
            found.append(PodTemplate(obj, "pod", labels, template["spec"]))
        elif obj["kind"] == "LeaderWorkerSet":
            group = obj["spec"]["leaderWorkerTemplate"]
            extra = {"leaderworkerset.sigs.k8s.io/name": obj["metadata"]["name"]}
            for role in ("leader", "worker"):
                template = group.get(f"{role}Template")
                if template is None:
                    continue
                labels = {**template.get("metadata", {}).get("labels", {}), **extra}
                found.append(PodTemplate(obj, role, labels, template["spec"]))
    return found


def selected(objects: list[Obj], selector: dict[str, str]) -> list[PodTemplate]:
    """Pod templates whose pods a label selector (matchLabels form) picks."""
    return [t for t in pod_templates(objects) if labels_match(selector, t.labels)]


def engine_containers(objects: list[Obj]) -> list[tuple[PodTemplate, dict[str, Any]]]:
    """Every container that runs vLLM (its command names vllm), with its pod template."""
    return [
        (t, c)
        for t in pod_templates(objects)
        for c in t.containers()
        if "vllm" in " ".join(c.get("command", []))
    ]


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    """A container's `env` as name -> entry."""
    return {e["name"]: e for e in container.get("env", [])}


def flag_values(args: list[str]) -> dict[str, str]:
    """`--flag=value` / `--flag value` / `--flag` arguments as a mapping (bare flags map to '')."""
    values: dict[str, str] = {}
    i = 0
    while i < len(args):
        arg = args[i]
        if arg.startswith("--"):
            name, sep, value = arg.partition("=")
            if not sep and i + 1 < len(args) and not args[i + 1].startswith("--"):
                value, i = args[i + 1], i + 1
            values[name] = value
        i += 1
    return values
