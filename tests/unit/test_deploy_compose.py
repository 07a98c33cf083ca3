"""deploy/docker-compose.yml and the Dockerfile: valid, and wired to each other.

``docker compose config`` validates the file where a compose tool exists (it
needs no Docker engine). The cross-checks below hold on any machine: a port,
path or name that disagrees between the files is a deployment that starts
and silently does nothing.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from services.corral import config as corral_config
from services.corral.cli import build_parser
from shared.service import split_listen

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE_FILE = DEPLOY / "docker-compose.yml"
COMPOSE = yaml.safe_load(COMPOSE_FILE.read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]
WORKERS = ("ingest", "triage", "notify", "incidents")
CORRAL = corral_config.load(DEPLOY / "corral.yml", env={})


def compose_command() -> list[str] | None:
    """``docker compose`` (plugin) or a standalone v2 ``docker-compose``, if either works."""
    candidates = [["docker", "compose"], ["docker-compose"]]
    for command in candidates:
        if not shutil.which(command[0]):
            continue
        probe = subprocess.run(
            [*command, "version"], capture_output=True, text=True, timeout=30, check=False
        )
        if probe.returncode == 0 and "v2." in probe.stdout:
            return command
    return None


def test_docker_compose_config_accepts_the_file() -> None:
    command = compose_command()
    if command is None:
        pytest.skip("no Docker Compose v2 here (docker compose / docker-compose); checked below")
    result = subprocess.run(
        [*command, "-f", str(COMPOSE_FILE), "config", "--format", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    resolved = json.loads(result.stdout)
    assert set(resolved["services"]) == set(SERVICES)
    assert resolved["services"]["triage"]["deploy"]["replicas"] == 2


def worker_port(name: str) -> int:
    return split_listen(getattr(CORRAL, name).listen)[1]


@pytest.mark.parametrize("name", WORKERS)
def test_workers_run_the_image_with_their_command_and_config(name: str) -> None:
    service = SERVICES[name]
    assert service["image"] == SERVICES["ingest"]["image"]
    assert service["build"] == {"context": "..", "dockerfile": "Dockerfile"}
    args = build_parser().parse_args([*service["command"], "--config", "x"])
    assert args.command == name
    config_mount = service["environment"]["CORRAL_CONFIG"]
    assert f"./corral.yml:{config_mount}:ro" in service["volumes"]
    # Reachable from other containers, and probed where it listens.
    assert split_listen(getattr(CORRAL, name).listen)[0] == "0.0.0.0"
    probe = " ".join(service["healthcheck"]["test"])
    assert f"http://127.0.0.1:{worker_port(name)}/-/ready" in probe
    assert service["depends_on"]["kafka"]["condition"] == "service_healthy"


def test_triage_runs_two_replicas_and_ingest_is_published() -> None:
    assert SERVICES["triage"]["deploy"]["replicas"] == 2
    assert SERVICES["ingest"]["ports"] == [f"{worker_port('ingest')}:{worker_port('ingest')}"]


def test_corral_reaches_kafka_as_kafka_advertises_itself() -> None:
    kafka = SERVICES["kafka"]["environment"]
    assert kafka["KAFKA_PROCESS_ROLES"] == "broker,controller"  # KRaft, no ZooKeeper
    advertised = kafka["KAFKA_ADVERTISED_LISTENERS"].split(",")
    assert f"PLAINTEXT://{CORRAL.kafka.bootstrap_servers}" in advertised
    # Kafka's group coordinator needs the offsets topic, which one broker can
    # hold only with a replication factor of 1; so must Corral's topics.
    assert kafka["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == CORRAL.kafka.replication_factor == 1


def test_prometheus_scrapes_every_worker_where_it_listens() -> None:
    mount = "./prometheus:/etc/prometheus:ro"
    assert mount in SERVICES["prometheus"]["volumes"]
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    for name in WORKERS:
        [discovery] = jobs[f"corral-{name}"]["dns_sd_configs"]
        assert (discovery["names"], discovery["port"]) == ([name], worker_port(name))
    [alertmanagers] = config["alerting"]["alertmanagers"]
    assert alertmanagers["static_configs"] == [{"targets": ["alertmanager:9093"]}]


def test_alertmanager_posts_to_the_ingest_webhook() -> None:
    config = yaml.safe_load((DEPLOY / "alertmanager" / "alertmanager.yml").read_text())
    receivers = {r["name"]: r for r in config["receivers"]}
    [webhook] = receivers[config["route"]["receiver"]]["webhook_configs"]
    url = urlsplit(webhook["url"])
    assert (url.hostname, url.port, url.path) == (
        "ingest",
        worker_port("ingest"),
        "/api/v1/alerts/alertmanager",
    )
    assert webhook["send_resolved"] is True
    volumes = SERVICES["alertmanager"]["volumes"]
    assert "./alertmanager/alertmanager.yml:/etc/alertmanager/alertmanager.yml:ro" in volumes


def test_grafana_loads_the_dashboard_from_prometheus() -> None:
    mounts = dict(v.split(":")[:2] for v in SERVICES["grafana"]["volumes"])
    provisioning = DEPLOY / "grafana" / "provisioning"
    assert mounts["./grafana/provisioning"] == "/etc/grafana/provisioning"
    [provider] = yaml.safe_load((provisioning / "dashboards" / "corral.yml").read_text())[
        "providers"
    ]
    assert mounts["./grafana/dashboards"] == provider["options"]["path"]
    [datasource] = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())[
        "datasources"
    ]
    assert urlsplit(datasource["url"]).hostname == "prometheus"


def test_every_bind_mount_exists() -> None:
    for name, service in SERVICES.items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), f"{name} mounts missing {source}"


def test_dockerfile_copies_every_package_and_runs_corral_unprivileged() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    pyproject = (ROOT / "pyproject.toml").read_text()
    packages = re.search(r"include = \[(.*?)\]", pyproject)
    assert packages is not None
    for pattern in re.findall(r'"(\w+)\*"', packages.group(1)):
        assert f"COPY {pattern} ./{pattern}" in dockerfile
        assert f"!{pattern}" in (ROOT / ".dockerignore").read_text()
    assert "--require-hashes -r requirements.lock" in dockerfile
    assert "--no-deps ." in dockerfile
    assert 'ENTRYPOINT ["corral"]' in dockerfile
    user = re.findall(r"^USER (\S+)$", dockerfile, re.MULTILINE)
    assert user and user[-1].isdigit() and user[-1] != "0"


def test_auth_is_on_and_every_sender_and_scraper_has_credentials() -> None:
    """No default password ships: the `secrets` service writes them on first start
    (``corral web init``) into a volume that only Corral, Prometheus and
    Alertmanager mount, and each uses its own user, with its own role."""
    from shared.web.commands import INIT_USERS
    from shared.web.config import Role

    init = SERVICES["secrets"]
    [volume] = init["volumes"]
    name, directory = volume.split(":")[:2]
    assert init["command"] == ["web", "init", directory, "--if-missing"]
    assert name in COMPOSE["volumes"]
    assert CORRAL.web.config_file == f"{directory}/web.yml"
    for service in (*WORKERS, "prometheus", "alertmanager"):
        assert f"{name}:{directory}:ro" in SERVICES[service]["volumes"], service
    for service in (*WORKERS, "prometheus"):
        condition = SERVICES[service]["depends_on"]["secrets"]["condition"]
        assert condition == "service_completed_successfully"

    alertmanager = yaml.safe_load((DEPLOY / "alertmanager" / "alertmanager.yml").read_text())
    receivers = {r["name"]: r for r in alertmanager["receivers"]}
    [webhook] = receivers[alertmanager["route"]["receiver"]]["webhook_configs"]
    auth = webhook["http_config"]["basic_auth"]
    assert auth["password_file"] == f"{directory}/{auth['username']}.password"
    assert Role.ALERTS in INIT_USERS[auth["username"]]

    prometheus = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    for job in prometheus["scrape_configs"]:
        if job["job_name"].startswith("corral-"):
            scraper = job["basic_auth"]
            assert scraper["password_file"] == f"{directory}/{scraper['username']}.password"
            assert Role.METRICS in INIT_USERS[scraper["username"]]


def test_no_secret_is_written_inline_in_corral_yml() -> None:
    text = (DEPLOY / "corral.yml").read_text()
    for field in ("password:", "credentials:", "routing_key:", "api_url:", "hmac_secret:"):
        assert f" {field}" not in text.replace("#", "\n#"), field


def test_incidents_keep_their_store_on_a_volume_and_are_published() -> None:
    service = SERVICES["incidents"]
    assert f"incidents-data:{CORRAL.incidents.data_dir}" in service["volumes"]
    assert "incidents-data" in COMPOSE["volumes"]
    assert service["ports"] == [f"{worker_port('incidents')}:{worker_port('incidents')}"]
    assert "install -d -o 10001 -g 10001 /var/lib/corral" in (ROOT / "Dockerfile").read_text()
