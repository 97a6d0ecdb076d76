"""Choice sets where the product ships: the gateway writes the store where every engine reads
it, and compiles with the served model's tokenizer from a volume it mounts (compose and each
Kubernetes overlay). Without this, registered sets work in `structserve serve` but every
request naming one gets 400 from the engine (the trie file is not there)."""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

import pytest
import yaml

from tests.unit.deploy.conftest import DEPLOY, OVERLAYS
from tests.unit.deploy.k8s_objects import engine_containers, env_of, need, pod_templates

DIR = "STRUCTSERVE_CHOICE_SETS_DIR"
TOKENIZER = "STRUCTSERVE_CHOICE_SETS_TOKENIZER"


def _under(path: str, mounts: dict[str, str]) -> str | None:
    """The volume whose mount point holds `path` (mount path -> volume), else None."""
    for mount, volume in mounts.items():
        if PurePosixPath(path).is_relative_to(PurePosixPath(mount)):
            return volume
    return None


def test_compose_engine_reads_the_gateways_store() -> None:
    services = yaml.safe_load((DEPLOY / "compose.yaml").read_text())["services"]
    gateway, engine, pull = services["gateway"], services["engine"], services["model-pull"]

    def mounts(service: dict[str, Any]) -> dict[str, str]:
        return {m.split(":")[1]: m.split(":")[0] for m in service["volumes"]}

    store = gateway["environment"][DIR]
    assert engine["environment"][DIR] == store
    assert _under(store, mounts(gateway)) == _under(store, mounts(engine)) is not None
    assert not any(m.endswith(":ro") for m in gateway["volumes"] if m.split(":")[1] == store)
    # the tokenizer folder lies on the volume the model pull writes
    tokenizer = gateway["environment"][TOKENIZER]
    volume = _under(tokenizer, mounts(gateway))
    assert volume is not None and volume in mounts(pull).values()
    assert tokenizer.endswith("/structserve/models/smollm2-135m-instruct")


@pytest.mark.parametrize("name", OVERLAYS)
def test_k8s_engines_read_the_gateways_store(rendered, name: str) -> None:
    objects = rendered[name]
    settings = need(objects, "ConfigMap", "structserve-gateway")["data"]
    store = settings[DIR]
    gateway = next(t for t in pod_templates(objects) if "gateway" in t.name)
    gateway_claims = _claims_at(gateway.spec, gateway.spec["containers"][0])
    claim = _under(store, gateway_claims)
    assert claim is not None, "the gateway's store is on no persistent volume"
    assert _under(settings[TOKENIZER], gateway_claims) == "structserve-model-cache"
    engines = engine_containers(objects)
    assert engines
    for template, container in engines:
        assert env_of(container)[DIR]["value"] == store
        assert _under(store, _claims_at(template.spec, container)) == claim
    need(objects, "PersistentVolumeClaim", claim)


def _claims_at(pod: dict[str, Any], container: dict[str, Any]) -> dict[str, str]:
    """Mount path -> PVC name, for a container's mounts of persistent volume claims."""
    claims = {
        v["name"]: v["persistentVolumeClaim"]["claimName"]
        for v in pod.get("volumes", [])
        if "persistentVolumeClaim" in v
    }
    return {
        m["mountPath"]: claims[m["name"]]
        for m in container.get("volumeMounts", [])
        if m["name"] in claims
    }


MULTIPROC = "PROMETHEUS_MULTIPROC_DIR"


def test_compose_engine_reports_its_mask_time() -> None:
    """The engine-core process's metrics reach vLLM's /metrics only in prometheus-client's
    multiprocess mode, from a folder that starts empty (a tmpfs)."""
    engine = yaml.safe_load((DEPLOY / "compose.yaml").read_text())["services"]["engine"]
    assert engine["environment"][MULTIPROC] in engine["tmpfs"]


@pytest.mark.parametrize("name", OVERLAYS)
def test_k8s_engines_report_their_mask_time(rendered, name: str) -> None:
    for template, container in engine_containers(rendered[name]):
        folder = env_of(container)[MULTIPROC]["value"]
        mounts = {m["mountPath"]: m for m in container.get("volumeMounts", [])}
        assert folder in mounts and not mounts[folder].get("readOnly", False)
        volume = next(v for v in template.spec["volumes"] if v["name"] == mounts[folder]["name"])
        assert "emptyDir" in volume, "a multiprocess folder must start empty with each pod"
