"""The Grafana dashboard and Corral's alerting rules against running workers.

A dashboard panel that names a metric no worker exports stays empty forever
and looks like "all quiet"; a rule on such a metric never fires. So every
metric they name must be exported by a worker started as ``corral up``
starts it, and every query must run in a real Prometheus that scrapes the
workers with the shipped scrape configuration.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import signal
import urllib.parse
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from services.corral.embedded import free_port
from shared.service import wait_ready
from shared.web.commands import init
from tests.conftest import kafka_settings_for
from tests.e2e.stack import Program
from tests.helpers import start_corral
from tests.monitoring import require_monitoring_tools

pytestmark = pytest.mark.broker

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "corral.json"
RULES = DEPLOY / "prometheus" / "rules" / "corral.yml"
WORKERS = ("ingest", "triage", "notify", "incidents")
# Series Prometheus makes itself rather than scraping them from a worker.
PROMETHEUS_OWN = {"up", "ALERTS"}
# What the issue asks the dashboard to show.
REQUIRED_ON_DASHBOARD = {
    "corral_alerts_received_total",
    "corral_alerts_rejected_total",
    "corral_messages_published_total",
    "corral_alerts_deduplicated_total",
    "corral_incidents_opened_total",
    "corral_incidents_resolved_total",
    "corral_correlation_decisions_total",
    "corral_classifier_inference_seconds_bucket",
    "corral_end_to_end_latency_seconds_bucket",
    "corral_notifications_per_incident_bucket",
    "corral_notifications_total",
    "corral_notification_retries_total",
    "corral_dead_letters_total",
    "corral_consumer_lag_messages",
    "corral_build_info",
    "corral_incidents_open",
    "corral_incident_time_to_acknowledge_seconds_bucket",
    "corral_incident_time_to_resolve_seconds_bucket",
    "corral_incident_actions_total",
}
# What Grafana fills in before sending a query.
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$__interval": "15s", "$__range": "1h"}
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_BRACKETS = re.compile(r"\{[^}]*\}|\[[^\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_IDENTIFIER = re.compile(r"(?<![\w.$:])([a-zA-Z_:][a-zA-Z0-9_:]*)(?![\w:])(?!\s*\()")
_KEYWORDS = {"and", "or", "unless", "offset", "bool", "by", "without", "on", "ignoring"}


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))


def dashboard_queries() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [t["expr"] for p in _panels(dashboard["panels"]) for t in p.get("targets", [])]


def rule_queries() -> list[str]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule["expr"] for group in groups for rule in group["rules"]]


def grafana_expanded(query: str) -> str:
    for variable, value in GRAFANA_VARIABLES.items():
        query = query.replace(variable, value)
    return query


def metric_names(query: str) -> set[str]:
    """Names of the series a PromQL query selects (not functions, labels or keywords)."""
    text = _STRING.sub('""', grafana_expanded(query))
    text = _GROUPING.sub(" ", _BRACKETS.sub(" ", text))
    return {name for name in _IDENTIFIER.findall(text) if name not in _KEYWORDS}


def test_metric_names_are_read_from_promql() -> None:
    query = (
        "histogram_quantile(0.99, sum by (le, endpoint)"
        ' (rate(a_bucket{x="y(z)"}[$__rate_interval])))'
        " / on (job) group_left (v) (b_total offset 5m) and up unless absent(c)"
    )
    assert metric_names(query) == {"a_bucket", "b_total", "up", "c"}


def test_dashboard_shows_every_metric_the_issue_lists() -> None:
    shown = set().union(*map(metric_names, dashboard_queries()))
    assert not REQUIRED_ON_DASHBOARD - shown, REQUIRED_ON_DASHBOARD - shown


def exported_names(exposition: str) -> set[str]:
    """Every name a scrape of this text can yield, whether or not it has samples yet."""
    names = set()
    for name, kind in re.findall(r"^# TYPE (\S+) (\S+)$", exposition, re.MULTILINE):
        names.add(name)
        if kind in ("histogram", "summary"):
            names |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
    return names


SHIPPED_SECRETS = "/run/corral-secrets"
"""Where deploy/ mounts what ``corral web init`` writes."""


@pytest.fixture(scope="module")
def secrets_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The web config and passwords, as the compose ``secrets`` service makes them."""
    directory = tmp_path_factory.mktemp("secrets")
    init(directory)
    return directory


@pytest.fixture(scope="module")
async def workers(
    kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory, secrets_dir: Path
) -> AsyncIterator[dict[str, int]]:
    """The workers as ``corral up`` runs them, each in its own process,
    with authentication on as deploy/ ships them."""
    ports = {name: free_port() for name in WORKERS}
    config: dict[str, Any] = {
        "kafka": kafka_settings_for(kafka_bootstrap).model_dump(mode="json"),
        **{name: {"listen": f"127.0.0.1:{port}"} for name, port in ports.items()},
    }
    directory = tmp_path_factory.mktemp("workers")
    config["incidents"]["data_dir"] = str(directory / "data")
    path = directory / "corral.yml"
    path.write_text(yaml.safe_dump(config))
    web = str(secrets_dir / "web.yml")
    process = await start_corral("up", "--config", str(path), "--web.config.file", web)
    try:
        for port in ports.values():
            await wait_ready(f"127.0.0.1:{port}")
        yield ports
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), 60)


async def scrape(port: int, secrets_dir: Path) -> str:
    password = (secrets_dir / "prometheus.password").read_text().strip()
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            f"http://127.0.0.1:{port}/metrics",
            headers={"Authorization": aiohttp.encode_basic_auth("prometheus", password)},
        ) as response,
    ):
        assert response.status == 200
        return await response.text()


async def test_every_metric_on_the_dashboard_and_in_the_rules_is_exported(
    workers: dict[str, int], secrets_dir: Path
) -> None:
    exported = {
        name: exported_names(await scrape(port, secrets_dir)) for name, port in workers.items()
    }
    everywhere = set().union(*exported.values())
    for name, names in exported.items():
        assert "corral_build_info" in names, f"{name} exports no build info"
    # A worker exporting another service's counters shows a forever-zero
    # series that reads as "nothing happened" on a per-job panel.
    assert "corral_alerts_received_total" not in exported["triage"] | exported["notify"]
    assert "corral_incidents_opened_total" not in exported["ingest"] | exported["notify"]
    assert "corral_notifications_total" not in exported["ingest"] | exported["triage"]
    assert "corral_incidents_open" not in exported["ingest"] | exported["notify"]
    for query in dashboard_queries() + rule_queries():
        names = metric_names(query)
        assert names, f"no metric found in {query!r}"
        missing = names - everywhere - PROMETHEUS_OWN
        assert not missing, f"{query!r} names {sorted(missing)}, which no worker exports"


def scrape_config_for(
    ports: dict[str, int], prometheus_port: int, secrets_dir: Path
) -> dict[str, Any]:
    """The shipped compose scrape config with each worker found on loopback instead
    of by DNS, and its credentials read from where this test keeps them."""
    text = (DEPLOY / "prometheus" / "prometheus.yml").read_text()
    config = yaml.safe_load(text.replace(SHIPPED_SECRETS, str(secrets_dir)))
    config["global"].update(scrape_interval="1s", evaluation_interval="1s")
    config["rule_files"] = [str(RULES)]
    config.pop("alerting")
    jobs = []
    for job in config["scrape_configs"]:
        worker = job["job_name"].removeprefix("corral-")
        if worker in ports:
            [discovery] = job.pop("dns_sd_configs")
            assert discovery["port"] == 9095 + WORKERS.index(worker), job
            job["static_configs"] = [{"targets": [f"127.0.0.1:{ports[worker]}"]}]
            jobs.append(job)
        elif job["job_name"] == "prometheus":
            job["static_configs"] = [{"targets": [f"127.0.0.1:{prometheus_port}"]}]
            jobs.append(job)
    config["scrape_configs"] = jobs
    return config


async def query(prometheus: Program, promql: str) -> list[dict[str, Any]]:
    answer = await prometheus.get_json("/api/v1/query?query=" + urllib.parse.quote(promql))
    assert answer["status"] == "success", answer
    return list(answer["data"]["result"])


async def settled_rules(prometheus: Program) -> list[tuple[str, str, str]]:
    """(name, health, state) of every rule, once all are ok and inactive or after 30 s."""
    rules: list[tuple[str, str, str]] = []
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(30):
            while not rules or any(rule[1:] != ("ok", "inactive") for rule in rules):
                await asyncio.sleep(0.2)
                groups = (await prometheus.get_json("/api/v1/rules"))["data"]["groups"]
                rules = [
                    (rule["name"], rule["health"], rule["state"])
                    for group in groups
                    for rule in group["rules"]
                ]
    return rules


async def test_dashboard_and_rules_run_in_prometheus_scraping_the_workers(
    workers: dict[str, int], tmp_path: Path, secrets_dir: Path
) -> None:
    tools = require_monitoring_tools()
    port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(yaml.safe_dump(scrape_config_for(workers, port, secrets_dir)))
    async with Program(
        "prometheus",
        [
            tools.prometheus,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        port,
        tmp_path,
    ) as prometheus:
        try:
            # The shipped job names find all three workers...
            async with asyncio.timeout(30):
                while len(await query(prometheus, 'up{job=~"corral-.*"} == 1')) < len(WORKERS):
                    await asyncio.sleep(0.2)

            # ...every rule evaluates without error and, the workers being
            # healthy, stays quiet...
            rules = await settled_rules(prometheus)
            assert rules
            assert rules == [(name, "ok", "inactive") for name, *_ in rules]
            # ...and so does every dashboard query, as Grafana sends it.
            for promql in dashboard_queries():
                await query(prometheus, grafana_expanded(promql))
            services = await query(prometheus, "count by (service) (corral_build_info)")
            assert sorted(s["metric"]["service"] for s in services) == sorted(WORKERS)
        except (AssertionError, TimeoutError):
            print(prometheus.log()[-4000:])
            raise
