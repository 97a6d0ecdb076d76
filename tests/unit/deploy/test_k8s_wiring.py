"""Cross-references the schemas cannot see: selectors, names, ports, settings, model paths.

Each check is one a cluster would only reveal at run time (a Service with no endpoints, a probe
on a port that does not exist, a ConfigMap key the gateway rejects).
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from model_loaders.catalog import CATALOG, model_dir
from server.settings import Settings
from tests.unit.deploy.conftest import K8S, KUSTOMIZATIONS, OVERLAYS, REPO
from tests.unit.deploy.k8s_objects import (
    by_kind,
    env_of,
    flag_values,
    named,
    need,
    pod_templates,
    selected,
)
from tests.unit.deploy.kustomize_lite import labels_match

ALL = list(KUSTOMIZATIONS)


def _image_env(name: str) -> str:
    """A variable the Dockerfile sets with ENV (the runtime stage's last value)."""
    text = (REPO / "Dockerfile").read_text().replace("\\\n", " ")
    values = re.findall(rf"\b{name}=(\S+)", text)
    assert values, f"Dockerfile sets no {name}"
    return values[-1]


def _gateway_env(objects) -> dict[str, str]:
    return dict(need(objects, "ConfigMap", "structserve-gateway")["data"])


@pytest.mark.parametrize("name", ALL)
def test_workload_selectors_match_their_templates(rendered, name: str) -> None:
    for obj in by_kind(rendered[name], "Deployment"):
        template_labels = obj["spec"]["template"]["metadata"]["labels"]
        assert labels_match(obj["spec"]["selector"]["matchLabels"], template_labels), obj


@pytest.mark.parametrize("name", ALL)
def test_services_select_pods_with_their_target_ports(rendered, name: str) -> None:
    objects = rendered[name]
    for service in by_kind(objects, "Service"):
        templates = selected(objects, service["spec"]["selector"])
        assert templates, f"Service {service['metadata']['name']} selects no pod template"
        for port in service["spec"]["ports"]:
            target = port.get("targetPort", port["port"])
            if isinstance(target, str):
                for t in templates:
                    assert target in t.port_names(), f"{t.name} has no port {target!r}"


@pytest.mark.parametrize("name", ALL)
def test_probes_and_references_resolve(rendered, name: str) -> None:
    objects = rendered[name]
    standalone = name == "multinode-lws"  # lives next to an overlay's objects
    for t in pod_templates(objects):
        for c in t.containers():
            for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                port = c.get(probe, {}).get("httpGet", {}).get("port")
                if isinstance(port, str):
                    assert port in t.port_names(), f"{t.name}: {probe} on unknown port {port}"
        if standalone:
            continue
        for c in t.containers(init=True):
            for source in c.get("envFrom", []):
                ref = source.get("configMapRef", {}).get("name")
                assert ref is None or named(objects, "ConfigMap", ref), ref
            for entry in c.get("env", []):
                ref = entry.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    secret = named(objects, "Secret", ref["name"])
                    assert secret and ref["key"] in secret.get("stringData", {}), ref
        for volume in t.spec.get("volumes", []):
            claim = volume.get("persistentVolumeClaim", {}).get("claimName")
            assert claim is None or named(objects, "PersistentVolumeClaim", claim), claim


@pytest.mark.parametrize("name", ALL)
def test_pods_run_as_non_root_with_resources(rendered, name: str) -> None:
    for t in pod_templates(rendered[name]):
        assert t.spec["securityContext"]["runAsNonRoot"] is True, t.name
        assert t.spec["securityContext"]["runAsUser"] != 0, t.name
        for c in t.containers():
            assert c.get("resources", {}).get("requests"), f"{t.name}/{c['name']}: no requests"


@pytest.mark.parametrize("name", OVERLAYS)
def test_gateway_is_redundant_and_probed(rendered, name: str) -> None:
    objects = rendered[name]
    gateway = need(objects, "Deployment", "structserve-gateway")
    assert gateway["spec"]["replicas"] == 2
    container = gateway["spec"]["template"]["spec"]["containers"][0]
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    budgets = [
        pdb
        for pdb in by_kind(objects, "PodDisruptionBudget")
        if labels_match(
            pdb["spec"]["selector"]["matchLabels"], gateway["spec"]["selector"]["matchLabels"]
        )
    ]
    assert len(budgets) == 1 and budgets[0]["spec"]["minAvailable"] < 2


@pytest.mark.parametrize("name", OVERLAYS)
def test_gateway_drains_within_its_grace_period(rendered, name: str) -> None:
    objects = rendered[name]
    settings = Settings.model_validate(
        {k.removeprefix("STRUCTSERVE_").lower(): v for k, v in _gateway_env(objects).items()}
    )
    pod = need(objects, "Deployment", "structserve-gateway")["spec"]["template"]["spec"]
    pre_stop = pod["containers"][0]["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    budget = settings.drain_timeout_s + float(pre_stop[1])
    assert budget < pod["terminationGracePeriodSeconds"], "SIGKILL would cut the drain short"


@pytest.mark.parametrize("name", OVERLAYS)
def test_gateway_settings_are_valid_and_point_at_engine_services(rendered, name: str) -> None:
    objects = rendered[name]
    env = _gateway_env(objects)
    fields = set(Settings.model_fields)
    for key in env:
        assert key.startswith("STRUCTSERVE_"), key
        assert key.removeprefix("STRUCTSERVE_").lower() in fields, f"{key} is no Settings field"
    settings = Settings.model_validate(
        {k.removeprefix("STRUCTSERVE_").lower(): v for k, v in env.items()}
    )
    assert settings.engine_url, "the gateway must attach to engine Services, not start one"
    for url in settings.engine_url:
        parts = urlsplit(url)
        assert parts.hostname, url
        service = need(objects, "Service", parts.hostname.split(".")[0])
        assert parts.port in {p["port"] for p in service["spec"]["ports"]}, url
        assert service["metadata"]["labels"]["app.kubernetes.io/component"] == "engine"
    if settings.served_model_name:
        served = {
            flag_values(c["args"]).get("--served-model-name")
            for t in pod_templates(objects)
            for c in t.containers()
            if c["name"] == "vllm"
        }
        assert settings.served_model_name in served, "the declared model is served by no engine"


@pytest.mark.parametrize("name", ["cpu", "gpu", "multinode-lws"])
def test_engines_serve_the_pulled_model_on_their_port(rendered, name: str) -> None:
    cache = Path(_image_env("STRUCTSERVE_CACHE_DIR"))
    engines = [
        t
        for t in pod_templates(rendered[name])
        if t.labels.get("app.kubernetes.io/component") == "engine"
    ]
    assert engines
    for t in engines:
        vllm = next(c for c in t.containers() if c["name"] == "vllm")
        flags = flag_values(vllm["args"])
        model = flags.get("--model") or vllm["args"][0]
        assert Path(model) == model_dir(cache, Path(model).name), f"{t.name}: {model}"
        assert Path(model).name in CATALOG
        if t.role == "worker":
            assert "--headless" in flags
            continue
        assert flags["--served-model-name"] == t.labels["structserve.io/model"]
        ports = {p["name"]: p["containerPort"] for p in vllm["ports"]}
        assert int(flags["--port"]) == ports["http"] and flags["--host"] == "0.0.0.0"
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert vllm[probe]["httpGet"]["path"] == "/health", f"{t.name}: {probe}"
        if t.role == "leader":
            continue
        pull = next(c for c in t.containers(init=True) if c["name"] == "pull-model")
        assert pull["args"] == ["models", "pull", Path(model).name]


def test_overlays_pick_their_engine_build(rendered) -> None:
    for name, tag in (("cpu", "cpu"), ("gpu", "cuda"), ("multinode-lws", "cuda")):
        for t in pod_templates(rendered[name]):
            for c in t.containers(init=True):
                assert c["image"] == f"structserve:{tag}", f"{name}: {t.name}/{c['name']}"
    cpu_engine = need(rendered["cpu"], "Deployment", "structserve-engine-smollm2")
    vllm = cpu_engine["spec"]["template"]["spec"]["containers"][0]
    assert float(env_of(vllm)["VLLM_CPU_KVCACHE_SPACE"]["value"]) > 0
    assert "nvidia.com/gpu" not in vllm["resources"].get("limits", {})
    gpu_engine = need(rendered["gpu"], "Deployment", "structserve-engine-smollm2")
    vllm = gpu_engine["spec"]["template"]["spec"]["containers"][0]
    assert vllm["resources"]["limits"]["nvidia.com/gpu"] == "1"
    cache = need(rendered["gpu"], "PersistentVolumeClaim", "structserve-model-cache")
    assert cache["spec"]["accessModes"] == ["ReadWriteMany"]


@pytest.mark.parametrize("name", OVERLAYS)
def test_engine_autoscaler_and_budget(rendered, name: str) -> None:
    objects = rendered[name]
    adapter = yaml.safe_load((K8S / "monitoring" / "prometheus-adapter-values.yaml").read_text())
    (rule,) = adapter["rules"]["custom"]
    assert rule["seriesQuery"].startswith("vllm:num_requests_waiting{")
    for hpa in by_kind(objects, "HorizontalPodAutoscaler"):
        ref = hpa["spec"]["scaleTargetRef"]
        target = named(objects, ref["kind"], ref["name"])
        assert target is not None, ref
        assert "replicas" not in target["spec"], "the HPA owns replicas; apply would reset them"
        (metric,) = hpa["spec"]["metrics"]
        assert metric["type"] == "Pods"
        assert metric["pods"]["metric"]["name"] == rule["name"]["as"]
        assert hpa["spec"]["minReplicas"] >= 1
    engines = [d for d in by_kind(objects, "Deployment") if "engine" in d["metadata"]["name"]]
    for engine in engines:
        assert any(
            h["spec"]["scaleTargetRef"]["name"] == engine["metadata"]["name"]
            for h in by_kind(objects, "HorizontalPodAutoscaler")
        ), engine["metadata"]["name"]
        labels = engine["spec"]["template"]["metadata"]["labels"]
        assert any(
            labels_match(p["spec"]["selector"]["matchLabels"], labels)
            for p in by_kind(objects, "PodDisruptionBudget")
        ), engine["metadata"]["name"]


@pytest.mark.parametrize("name", OVERLAYS)
def test_engines_reachable_only_from_the_gateway(rendered, name: str) -> None:
    objects = rendered[name]
    templates = pod_templates(objects)
    engines = [t for t in templates if t.labels.get("app.kubernetes.io/component") == "engine"]
    gateways = [t for t in templates if t.labels.get("app.kubernetes.io/component") == "gateway"]
    policies = [
        p
        for p in by_kind(objects, "NetworkPolicy")
        if all(labels_match(p["spec"]["podSelector"]["matchLabels"], e.labels) for e in engines)
    ]
    assert len(policies) == 1
    policy = policies[0]
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    pod_rules = [
        peer["podSelector"]["matchLabels"]
        for rule in policy["spec"]["ingress"]
        for peer in rule["from"]
        if "podSelector" in peer
    ]
    assert pod_rules, "no pod may reach the engines"
    for selector in pod_rules:
        assert all(labels_match(selector, g.labels) for g in gateways)
        assert not any(labels_match(selector, e.labels) for e in engines)
    for rule in policy["spec"]["ingress"]:
        for peer in rule["from"]:
            assert set(peer) <= {"podSelector", "namespaceSelector"}, "no ipBlock / open rule"
        for port in rule["ports"]:
            assert all(port["port"] in e.port_names() for e in engines)


@pytest.mark.parametrize("name", OVERLAYS)
def test_service_monitors_scrape_existing_ports(rendered, name: str) -> None:
    objects = rendered[name]
    monitors = by_kind(objects, "ServiceMonitor")
    assert {m["metadata"]["name"] for m in monitors} == {
        "structserve-gateway",
        "structserve-engines",
    }
    for monitor in monitors:
        services = [
            s
            for s in by_kind(objects, "Service")
            if labels_match(monitor["spec"]["selector"]["matchLabels"], s["metadata"]["labels"])
        ]
        assert services, f"ServiceMonitor {monitor['metadata']['name']} selects no Service"
        for endpoint in monitor["spec"]["endpoints"]:
            for s in services:
                assert endpoint["port"] in {p["name"] for p in s["spec"]["ports"]}
    gateway = need(objects, "ServiceMonitor", "structserve-gateway")
    drops = gateway["spec"]["endpoints"][0]["metricRelabelings"]
    assert any(r["action"] == "drop" and re.fullmatch(r["regex"], "vllm:x") for r in drops)


def test_multinode_example_uses_vllm_pipeline_parallelism(rendered) -> None:
    (lws,) = by_kind(rendered["multinode-lws"], "LeaderWorkerSet")
    group = lws["spec"]["leaderWorkerTemplate"]
    assert group["size"] >= 2
    for role in ("leaderTemplate", "workerTemplate"):
        vllm = group[role]["spec"]["containers"][0]
        flags = flag_values(vllm["args"])
        assert flags["--pipeline-parallel-size"] == "$(LWS_GROUP_SIZE)"
        assert flags["--nnodes"] == "$(LWS_GROUP_SIZE)"
        assert flags["--master-addr"] == "$(LWS_LEADER_ADDRESS)"
        assert flags["--distributed-executor-backend"] in {"mp", "ray"}
        expected_rank = "0" if role == "leaderTemplate" else "$(LWS_WORKER_INDEX)"
        assert flags["--node-rank"] == expected_rank
        gpus = vllm["resources"]["limits"]["nvidia.com/gpu"]
        assert flags["--tensor-parallel-size"] == gpus, "tensor parallel = GPUs per pod"
