"""deploy/kubernetes/: valid against the Kubernetes API schemas, and wired together."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from services.corral import config as corral_config
from services.corral.cli import build_parser
from shared.config import parse_yaml, validate
from shared.service import split_listen

ROOT = Path(__file__).resolve().parents[2]
KUBERNETES = ROOT / "deploy" / "kubernetes"
KUSTOMIZATION = yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())
# The oldest Kubernetes release still commonly run, and the newest with schemas.
KUBERNETES_VERSIONS = ("1.27", kubernetes_validate.utils.latest_version())
WORKERS = ("ingest", "triage", "notify", "incidents")


def documents() -> list[dict[str, Any]]:
    found = []
    for resource in KUSTOMIZATION["resources"]:
        found += [d for d in yaml.safe_load_all((KUBERNETES / resource).read_text()) if d]
    return found


DOCUMENTS = documents()


def of_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in DOCUMENTS if d["kind"] == kind}


def workloads() -> dict[str, dict[str, Any]]:
    """Deployments, and the StatefulSet of the worker that keeps a store on a volume."""
    return {**of_kind("Deployment"), **of_kind("StatefulSet")}


def corral_settings() -> corral_config.CorralConfig:
    text = of_kind("ConfigMap")["corral-config"]["data"]["corral.yml"]
    return validate(corral_config.CorralConfig, parse_yaml(text, "configmap.yaml:corral.yml"))


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    [only] = deployment["spec"]["template"]["spec"]["containers"]
    return dict(only)


def test_kustomization_lists_every_manifest() -> None:
    manifests = {p.name for p in KUBERNETES.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(KUSTOMIZATION["resources"]) == manifests


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize(
    "document", DOCUMENTS, ids=lambda d: f"{d['kind']}/{d['metadata']['name']}"
)
def test_manifest_matches_the_kubernetes_schema(document: dict[str, Any], version: str) -> None:
    # Strict: a misspelt field is an error here, as kubectl --validate=strict makes it.
    kubernetes_validate.validate(document, version, strict=True)


def test_the_schema_check_catches_a_misspelt_field() -> None:
    deployment = of_kind("Deployment")["corral-ingest"]
    broken = {**deployment, "spec": {**deployment["spec"], "replica": 2}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSIONS[-1], strict=True)


def test_configmap_holds_a_valid_corral_config() -> None:
    settings = corral_settings()
    assert settings.kafka.security_protocol == "SASL_SSL"


@pytest.mark.parametrize("name", WORKERS)
def test_worker_deployment_runs_its_worker_with_probes_and_requests(name: str) -> None:
    deployment = workloads()[f"corral-{name}"]
    pod = deployment["spec"]["template"]
    labels = pod["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    # deploy/prometheus/prometheus-kubernetes.yml turns these into job corral-<component>.
    assert (labels["app.kubernetes.io/part-of"], labels["app.kubernetes.io/component"]) == (
        "corral",
        name,
    )
    spec = container(deployment)
    assert build_parser().parse_args([*spec["args"], "--config", "x"]).command == name
    [port] = spec["ports"]
    listen = getattr(corral_settings(), name).listen
    assert (port["name"], port["containerPort"]) == ("http", split_listen(listen)[1])
    assert split_listen(listen)[0] == "0.0.0.0"
    probes = {
        kind: (spec[kind]["httpGet"]["path"], spec[kind]["httpGet"]["port"])
        for kind in ("startupProbe", "livenessProbe", "readinessProbe")
    }
    assert probes == {
        "startupProbe": ("/-/healthy", "http"),
        "livenessProbe": ("/-/healthy", "http"),
        "readinessProbe": ("/-/ready", "http"),
    }
    assert {"cpu", "memory"} <= spec["resources"]["requests"].keys()
    assert "memory" in spec["resources"]["limits"]


@pytest.mark.parametrize("name", WORKERS)
def test_worker_reads_the_configmap_and_kafka_secret_where_the_config_says(name: str) -> None:
    deployment = workloads()[f"corral-{name}"]
    spec = container(deployment)
    env = {e["name"]: e for e in spec["env"]}
    mounts = {m["name"]: m for m in spec["volumeMounts"]}
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    assert env["CORRAL_CONFIG"]["value"] == mounts["config"]["mountPath"]
    assert volumes["config"]["configMap"]["name"] == "corral-config"
    assert mounts["config"]["subPath"] in of_kind("ConfigMap")["corral-config"]["data"]
    # The password reaches kafka.sasl_password through the environment.
    assert env["CORRAL_KAFKA__SASL_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "corral-kafka"
    cafile = Path(corral_settings().kafka.ssl_cafile or "")
    assert str(cafile.parent) == mounts["kafka"]["mountPath"]
    assert {"key": "ca.crt", "path": cafile.name} in volumes["kafka"]["secret"]["items"]


def test_pods_run_as_the_images_unprivileged_user() -> None:
    dockerfile_user = re.findall(r"^USER (\d+)$", (ROOT / "Dockerfile").read_text(), re.M)[-1]
    for deployment in workloads().values():
        security = deployment["spec"]["template"]["spec"]["securityContext"]
        assert security["runAsNonRoot"] is True
        assert str(security["runAsUser"]) == dockerfile_user
        assert container(deployment)["securityContext"]["readOnlyRootFilesystem"] is True


def test_every_worker_has_a_disruption_budget_that_selects_it() -> None:
    budgets = of_kind("PodDisruptionBudget")
    for name, deployment in workloads().items():
        selector = budgets[name]["spec"]["selector"]["matchLabels"]
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert selector.items() <= labels.items()
        # Never a budget that blocks every drain: more replicas than it keeps.
        assert deployment["spec"]["replicas"] > budgets[name]["spec"]["minAvailable"]


def test_ingest_service_reaches_the_ingest_pods_http_port() -> None:
    service = of_kind("Service")["corral-ingest"]
    ingest = of_kind("Deployment")["corral-ingest"]
    labels = ingest["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    [port] = service["spec"]["ports"]
    assert port["targetPort"] in {p["name"] for p in container(ingest)["ports"]}


@pytest.mark.parametrize("name", WORKERS)
def test_worker_reads_its_web_config_from_the_corral_web_secret(name: str) -> None:
    deployment = workloads()[f"corral-{name}"]
    spec = container(deployment)
    mounts = {m["name"]: m for m in spec["volumeMounts"]}
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    web_config = Path(corral_settings().web.config_file or "")
    assert str(web_config.parent) == mounts["web"]["mountPath"]
    assert volumes["web"]["secret"]["secretName"] == "corral-web"
    assert {"key": "web.yml", "path": web_config.name} in volumes["web"]["secret"]["items"]
    # Probes reach the health endpoints, which stay open when authentication is on.
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert spec[probe]["httpGet"]["path"] in ("/-/healthy", "/-/ready")


def test_receiver_secrets_come_from_a_secret_not_the_configmap() -> None:
    notify = of_kind("Deployment")["corral-notify"]
    volumes = {v["name"]: v for v in notify["spec"]["template"]["spec"]["volumes"]}
    assert volumes["receivers"]["secret"]["secretName"] == "corral-receivers"
    text = of_kind("ConfigMap")["corral-config"]["data"]["corral.yml"]
    for line in text.splitlines():
        code = line.split("#", 1)[0]
        for field in ("password:", "credentials:", "routing_key:", "api_url:", "hmac_secret:"):
            assert f" {field}" not in f" {code.strip()}", line


def test_incidents_keep_their_store_on_a_volume_of_their_own() -> None:
    statefulset = of_kind("StatefulSet")["corral-incidents"]
    [claim] = statefulset["spec"]["volumeClaimTemplates"]
    mounts = {m["name"]: m["mountPath"] for m in container(statefulset)["volumeMounts"]}
    assert mounts[claim["metadata"]["name"]] == corral_settings().incidents.data_dir
    assert corral_settings().incidents.store == "sqlite"
    pod = statefulset["spec"]["template"]["spec"]
    assert pod["securityContext"]["fsGroup"] == pod["securityContext"]["runAsUser"]
    service = of_kind("Service")["corral-incidents"]
    assert (
        service["spec"]["selector"].items()
        <= statefulset["spec"]["template"]["metadata"]["labels"].items()
    )
    assert statefulset["spec"]["serviceName"] == service["metadata"]["name"]
