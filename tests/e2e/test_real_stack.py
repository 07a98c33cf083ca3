"""Corral behind the real Prometheus and Alertmanager.

A real Prometheus scrapes a service whose queue backs up, a real alerting
rule fires, and the alert reaches Corral either through a real Alertmanager
(webhook) or straight from Prometheus (``/api/v2/alerts``). The on-call
receiver must get one triaged incident, and one resolve when the queue
drains: nothing more, however often Prometheus resends.

Corral's ingest listens as a production one would: HTTPS that requires a
client certificate (mTLS, certificates made by the test), and credentials
with roles. Alertmanager sends with ``basic_auth`` and a ``password_file``,
Prometheus with ``authorization: {credentials_file}`` (a bearer token), each
with its own client certificate, configured in their own formats.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import REGISTRY

from shared.config import KafkaSettings
from shared.web.commands import hash_password
from shared.web.guard import WebSecurity
from tests.certs import CertificateAuthority
from tests.e2e.stack import DemoExporter, Program, alertmanager, alertmanager_target, prometheus
from tests.helpers import RecordingServer
from tests.integration.pipeline import pipeline, webhook_route
from tests.monitoring import MonitoringTools

pytestmark = pytest.mark.broker

QUEUE = "orders"
HEALTHY, BACKLOG = 3, 250
PAGE_TIMEOUT = 60.0


async def scraped_once(prom: Program, job: str) -> None:
    """Wait until Prometheus has a sample of the target, so "healthy" was seen."""
    async with asyncio.timeout(30):
        while True:
            answer = await prom.get_json(f"/api/v1/query?query=up%7Bjob%3D%22{job}%22%7D")
            if answer["data"]["result"]:
                return
            await asyncio.sleep(0.2)


def deduplicated() -> float:
    return REGISTRY.get_sample_value("corral_alerts_deduplicated_total") or 0.0


def end_to_end(statistic: str) -> float:
    """Sum or count of Corral's own ingest-to-receiver latency for the pager."""
    name = f"corral_end_to_end_latency_seconds_{statistic}"
    return REGISTRY.get_sample_value(name, {"receiver": "oncall"}) or 0.0


@dataclass
class Credentials:
    """Ingest's web config, and each sender's side of it, as files."""

    security: WebSecurity
    alertmanager: dict[str, Any]
    prometheus: dict[str, Any]


def credentials(directory: Path) -> Credentials:
    ca = CertificateAuthority(directory)
    server = ca.issue("ingest", server=True)
    am_cert, prom_cert = ca.issue("alertmanager", False), ca.issue("prometheus", False)
    (directory / "am.password").write_text("am-secret-e2e\n")
    (directory / "prom.token").write_text("prom-token-e2e\n")
    web = {
        "tls_server_config": {
            "cert_file": str(server.cert),
            "key_file": str(server.key),
            "client_ca_file": str(ca.cert_file),
            "client_auth_type": "RequireAndVerifyClientCert",
        },
        "basic_auth_users": {"alertmanager": hash_password("am-secret-e2e", cost=4)},
        "bearer_tokens": {"prometheus": {"token_file": str(directory / "prom.token")}},
        "roles": {"alertmanager": ["alerts"], "prometheus": ["alerts"]},
    }
    (directory / "web.yml").write_text(yaml.safe_dump(web))

    def tls(issued: Any) -> dict[str, str]:
        return {
            "ca_file": str(ca.cert_file),
            "cert_file": str(issued.cert),
            "key_file": str(issued.key),
        }

    return Credentials(
        WebSecurity.load(directory / "web.yml"),
        {
            "basic_auth": {
                "username": "alertmanager",
                "password_file": str(directory / "am.password"),
            },
            "tls_config": tls(am_cert),
        },
        {
            "scheme": "https",
            "authorization": {"type": "Bearer", "credentials_file": str(directory / "prom.token")},
            "tls_config": tls(prom_cert),
        },
    )


def refusals() -> float:
    return sum(
        REGISTRY.get_sample_value("corral_http_requests_refused_total", {"reason": reason}) or 0
        for reason in ("unauthenticated", "bad_credentials", "forbidden")
    )


def check_opened(incident: dict[str, Any], prom: Program, exporter: DemoExporter) -> None:
    assert incident["event"] == "opened"
    assert incident["status"] == "firing"
    assert incident["revision"] == 1
    assert incident["severity"] == "critical"
    assert incident["priority"] == "P1"
    # The rule's labels, the target's labels and Prometheus's external labels.
    assert incident["labels"] == {
        "alertname": "QueueBacklog",
        "cluster": "e2e-eu-1",
        "instance": exporter.address,
        "job": "shop",
        "queue": QUEUE,
        "severity": "critical",
        "team": "shop",
    }
    assert incident["title"] == f"QueueBacklog: Queue {QUEUE} holds {BACKLOG} messages"
    [alert] = incident["alerts"]
    assert alert["status"] == "firing"
    assert alert["generator_url"].startswith(f"{prom.url}/graph?g0.expr=")


def check_resolved(incident: dict[str, Any], opened: dict[str, Any]) -> None:
    assert (incident["id"], incident["event"], incident["status"]) == (
        opened["id"],
        "resolved",
        "resolved",
    )
    # No revision between opening and resolving: the resends changed nothing.
    assert incident["revision"] == 2
    assert incident["resolved_at"] is not None
    [alert] = incident["alerts"]
    assert alert["status"] == "resolved"
    assert alert["fingerprint"] == opened["alerts"][0]["fingerprint"]
    assert alert["ends_at"] is not None


@pytest.mark.parametrize("path", ["alertmanager", "prometheus-direct"])
async def test_real_alert_pages_once_and_resolves(
    path: str, kafka: KafkaSettings, monitoring_tools: MonitoringTools, tmp_path: Path
) -> None:
    started = time.perf_counter()
    direct = path == "prometheus-direct"
    deduplicated_before = deduplicated()
    latency_before = end_to_end("sum"), end_to_end("count")
    refusals_before = refusals()
    secure = credentials(tmp_path)
    async with contextlib.AsyncExitStack() as stack:
        pager = await RecordingServer().start()
        stack.push_async_callback(pager.stop)
        # In the direct path Alertmanager still gets the alert, from the same
        # Prometheus, as the reference for its fingerprint; its notifications land here.
        alertmanager_inbox = await RecordingServer().start()
        stack.push_async_callback(alertmanager_inbox.stop)
        exporter = await DemoExporter().start()
        stack.push_async_callback(exporter.stop)
        exporter.queue_depth.labels(QUEUE).set(HEALTHY)

        # A short quiet period: the resolve waits it out, as it would in production.
        corral = await stack.enter_async_context(
            pipeline(
                kafka,
                webhook_route(pager.url()),
                triage={"lifecycle": {"quiet_period": "1s"}},
                security=secure.security,
            )
        )
        assert corral.ingest_url.startswith("https://")
        if direct:
            webhook, http_config = alertmanager_inbox.url(), {}
        else:
            webhook = f"{corral.ingest_url}/api/v1/alerts/alertmanager"
            http_config = secure.alertmanager
        am = await stack.enter_async_context(
            alertmanager(monitoring_tools, tmp_path, webhook, http_config)
        )
        targets = [alertmanager_target(am.address)]
        if direct:
            address = corral.ingest_url.removeprefix("https://")
            targets.append(alertmanager_target(address, **secure.prometheus))
        prom = await stack.enter_async_context(
            prometheus(monitoring_tools, tmp_path, exporter.address, targets)
        )
        try:
            await scraped_once(prom, "shop")
            stack_up = time.perf_counter()

            exporter.queue_depth.labels(QUEUE).set(BACKLOG)
            opened_request = await pager.next(PAGE_TIMEOUT)
            to_page = time.perf_counter() - stack_up
            opened = opened_request.json()
            check_opened(opened, prom, exporter)
            assert opened_request.headers["Idempotency-Key"] == f"{opened['id']}-1"
            [reference] = await am.get_json("/api/v2/alerts")
            assert opened["alerts"][0]["fingerprint"] == reference["fingerprint"]

            exporter.queue_depth.labels(QUEUE).set(HEALTHY)
            recovered = time.perf_counter()
            resolved = (await pager.next(PAGE_TIMEOUT)).json()
            to_resolve = time.perf_counter() - recovered
            check_resolved(resolved, opened)

            # Prometheus keeps resending the resolved alert every second;
            # none of those may page again.
            assert await pager.nothing_within(3.0)
            # Every request of the senders carried good credentials: none was refused.
            assert refusals() == refusals_before
            if direct:
                # ...and they did reach Corral, which absorbed them.
                assert deduplicated() > deduplicated_before
            # The dashboard's end-to-end latency saw these notifications.
            pages = end_to_end("count") - latency_before[1]
            assert pages >= 1
            in_corral = (end_to_end("sum") - latency_before[0]) / pages
        except (AssertionError, TimeoutError):
            print(f"--- prometheus log ---\n{prom.log()[-4000:]}")
            print(f"--- alertmanager log ---\n{am.log()[-4000:]}")
            raise
    print(
        f"\nreal stack via {path}: backlog to page {to_page:.1f} s, "
        f"recovery to resolve {to_resolve:.1f} s; inside Corral (ingest to webhook) "
        f"{in_corral * 1000:.0f} ms a page; whole test {time.perf_counter() - started:.1f} s"
    )
