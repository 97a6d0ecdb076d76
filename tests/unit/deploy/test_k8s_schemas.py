"""Every rendered manifest against the Kubernetes OpenAPI schemas, offline.

Core kinds go through `kubernetes-validate` (strict: unknown fields fail) for the oldest
Kubernetes the docs support and for the newest schema the package ships. The two CRDs have no
schema there: ServiceMonitor gets a minimal schema of its own below; LeaderWorkerSet gets one
for its group fields, and its leader / worker pod templates are validated as core PodTemplates.
"""

from __future__ import annotations

from typing import Any

import jsonschema
import kubernetes_validate
import pytest
from kubernetes_validate.utils import latest_version

from tests.unit.deploy.conftest import KUSTOMIZATIONS

# docs/deploy.md: "Kubernetes 1.29 or newer".
OLDEST_SUPPORTED = "1.29"
VERSIONS = (OLDEST_SUPPORTED, latest_version())

_RELABEL = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "sourceLabels": {"type": "array", "items": {"type": "string"}},
        "separator": {"type": "string"},
        "targetLabel": {"type": "string"},
        "regex": {"type": "string"},
        "replacement": {"type": "string"},
        "action": {
            "enum": [
                "replace", "keep", "drop", "keepequal", "dropequal", "hashmod",
                "labelmap", "labeldrop", "labelkeep", "lowercase", "uppercase",
            ]
        },
    },
}  # fmt: skip

# The ServiceMonitor fields deploy/k8s uses (monitoring.coreos.com/v1), closed to typos.
SERVICE_MONITOR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"},
        "metadata": {"type": "object", "required": ["name"]},
        "spec": {
            "type": "object",
            "additionalProperties": False,
            "required": ["selector", "endpoints"],
            "properties": {
                "selector": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "matchLabels": {
                            "type": "object",
                            "additionalProperties": {"type": "string"},
                            "minProperties": 1,
                        }
                    },
                },
                "namespaceSelector": {"type": "object"},
                "endpoints": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["port"],
                        "properties": {
                            "port": {"type": "string"},
                            "path": {"type": "string", "pattern": "^/"},
                            "interval": {"type": "string", "pattern": "^[0-9]+(ms|s|m|h)$"},
                            "scrapeTimeout": {"type": "string"},
                            "metricRelabelings": {"type": "array", "items": _RELABEL},
                            "relabelings": {"type": "array", "items": _RELABEL},
                        },
                    },
                },
            },
        },
    },
}

# LeaderWorkerSet (leaderworkerset.x-k8s.io/v1) group fields; templates are checked separately.
LEADER_WORKER_SET_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "leaderworkerset.x-k8s.io/v1"},
        "metadata": {"type": "object", "required": ["name"]},
        "spec": {
            "type": "object",
            "additionalProperties": False,
            "required": ["leaderWorkerTemplate"],
            "properties": {
                "replicas": {"type": "integer", "minimum": 0},
                "startupPolicy": {"enum": ["LeaderCreated", "LeaderReady"]},
                "rolloutStrategy": {"type": "object"},
                "networkConfig": {"type": "object"},
                "leaderWorkerTemplate": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["workerTemplate"],
                    "properties": {
                        "size": {"type": "integer", "minimum": 1},
                        "restartPolicy": {
                            "enum": ["RecreateGroupOnPodRestart", "RecreateGroupAfterStart", "None"]
                        },
                        "leaderTemplate": {"type": "object", "required": ["spec"]},
                        "workerTemplate": {"type": "object", "required": ["spec"]},
                        "subGroupPolicy": {"type": "object"},
                    },
                },
            },
        },
    },
}

CRD_SCHEMAS = {
    "ServiceMonitor": SERVICE_MONITOR_SCHEMA,
    "LeaderWorkerSet": LEADER_WORKER_SET_SCHEMA,
}


def _validate_core(obj: dict[str, Any], version: str) -> None:
    try:
        kubernetes_validate.validate(obj, version, strict=True)
    except kubernetes_validate.ValidationError as exc:
        path = "/".join(str(p) for p in exc.path)
        pytest.fail(
            f"{obj['kind']}/{obj['metadata']['name']} (k8s {version}) at {path}: {exc.message}"
        )


def _validate_pod_templates(obj: dict[str, Any], version: str) -> None:
    group = obj["spec"]["leaderWorkerTemplate"]
    for role in ("leaderTemplate", "workerTemplate"):
        if role in group:
            as_core = {
                "apiVersion": "v1",
                "kind": "PodTemplate",
                "metadata": {"name": f"{obj['metadata']['name']}-{role}"},
                "template": group[role],
            }
            _validate_core(as_core, version)


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("name", list(KUSTOMIZATIONS))
def test_manifests_match_kubernetes_schemas(rendered, name: str, version: str) -> None:
    objects = rendered[name]
    assert objects, f"{name} renders nothing"
    for obj in objects:
        kind = obj["kind"]
        if kind in CRD_SCHEMAS:
            jsonschema.validate(obj, CRD_SCHEMAS[kind])
            if kind == "LeaderWorkerSet":
                _validate_pod_templates(obj, version)
            continue
        try:
            _validate_core(obj, version)
        except kubernetes_validate.SchemaNotFoundError:
            pytest.fail(f"{name}: no schema for {kind} ({obj['apiVersion']}) and no CRD check")


def test_strict_validation_catches_a_typo(rendered) -> None:
    """The validator really is strict: a misspelt field fails."""
    deployment = next(o for o in rendered["cpu"] if o["kind"] == "Deployment")
    broken = {**deployment, "spec": {**deployment["spec"], "replica": 2}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, latest_version(), strict=True)


def test_crd_schemas_reject_typos() -> None:
    monitor = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": {"name": "x"},
        "spec": {"selector": {"matchLabels": {"a": "b"}}, "endpoints": [{"prot": "http"}]},
    }
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(monitor, SERVICE_MONITOR_SCHEMA)
