"""deploy/compose.yaml against the Compose specification, and the files it points at."""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path
from urllib.parse import urlsplit

import jsonschema
import pytest
import yaml

from model_loaders.catalog import model_dir
from server.settings import Settings
from tests.unit.deploy.conftest import DEPLOY, REPO
from tests.unit.deploy.k8s_objects import flag_values

COMPOSE = DEPLOY / "compose.yaml"


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def _compose_schema() -> dict:
    """The compose-spec JSON schema that check-jsonschema vendors (no network needed)."""
    vendor = resources.files("check_jsonschema.builtin_schemas.vendor")
    return json.loads(vendor.joinpath("compose-spec.json").read_text())


def test_matches_the_compose_spec(compose: dict) -> None:
    schema = _compose_schema()
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = [f"{'/'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(compose)]
    assert not errors, "\n".join(errors)


def test_stack_has_its_services(compose: dict) -> None:
    services = compose["services"]
    assert {"model-pull", "engine", "gateway", "prometheus", "grafana"} <= services.keys()
    for name, service in services.items():
        for dependency in service.get("depends_on", {}):
            assert dependency in services, f"{name} depends on unknown {dependency}"


def test_build_and_bind_mounts_point_at_existing_files(compose: dict) -> None:
    for name, service in compose["services"].items():
        if "build" in service:
            context = (COMPOSE.parent / service["build"]["context"]).resolve()
            assert context == REPO, name
            assert (context / service["build"].get("dockerfile", "Dockerfile")).is_file()
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (COMPOSE.parent / source).exists(), f"{name}: {source} missing"
            else:
                assert source in compose["volumes"], f"{name}: undeclared volume {source}"


def test_gateway_settings_and_engine_wiring(compose: dict) -> None:
    services = compose["services"]
    env = services["gateway"]["environment"]
    fields = set(Settings.model_fields)
    for key in env:
        assert key.removeprefix("STRUCTSERVE_").lower() in fields, f"{key} is no Settings field"
    drain = float(env["STRUCTSERVE_DRAIN_TIMEOUT_S"])
    assert drain < float(services["gateway"]["stop_grace_period"].rstrip("s"))
    engine_flags = flag_values(services["engine"]["command"])
    for url in env["STRUCTSERVE_ENGINE_URL"].split(","):
        parts = urlsplit(url)
        assert parts.hostname in services and parts.port == int(engine_flags["--port"]), url
    cache = Path("/cache/structserve")  # the image's STRUCTSERVE_CACHE_DIR on the `cache` volume
    name = services["model-pull"]["command"][-1]
    assert Path(engine_flags["--model"]) == model_dir(cache, name)
    assert engine_flags["--served-model-name"] == name
    assert env.get("STRUCTSERVE_SERVED_MODEL_NAME", name) == name
    assert "cache:/cache" in services["engine"]["volumes"]
    assert services["engine"]["depends_on"]["model-pull"]["condition"] == (
        "service_completed_successfully"
    )
    assert services["gateway"]["depends_on"]["engine"]["condition"] == "service_healthy"


def test_prometheus_scrapes_the_stack(compose: dict) -> None:
    config = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    targets = {t for job in jobs.values() for c in job["static_configs"] for t in c["targets"]}
    assert targets == {"gateway:8000", "engine:8000"}
    for target in targets:
        assert target.split(":")[0] in compose["services"]
    drops = jobs["structserve-gateway"]["metric_relabel_configs"]
    assert any(d["action"] == "drop" and re.fullmatch(d["regex"], "vllm:x") for d in drops)


def test_grafana_provisions_the_dashboard(compose: dict) -> None:
    grafana = compose["services"]["grafana"]
    mounts = dict(v.split(":")[:2] for v in grafana["volumes"] if v.startswith("."))
    provisioning = DEPLOY / "grafana" / "provisioning"
    provider = yaml.safe_load((provisioning / "dashboards" / "structserve.yaml").read_text())
    dashboards_path = provider["providers"][0]["options"]["path"]
    assert mounts["./dashboards"] == dashboards_path
    assert mounts["./grafana/provisioning"] == "/etc/grafana/provisioning"
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert (DEPLOY / "dashboards" / Path(home).name).is_file()
    source = yaml.safe_load((provisioning / "datasources" / "prometheus.yaml").read_text())
    (datasource,) = source["datasources"]
    dashboard = json.loads((DEPLOY / "dashboards" / "structserve.json").read_text())
    variable = next(v for v in dashboard["templating"]["list"] if v["type"] == "datasource")
    assert variable["current"]["value"] == datasource["uid"]
    assert urlsplit(datasource["url"]).hostname in compose["services"]
