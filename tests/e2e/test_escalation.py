"""An on-call team's incident, end to end: escalation, acknowledgement both ways, review.

A real Alertmanager sends an alert to Corral; triage opens an incident; notify
(the real ``corral notify`` process) pages the first step of the escalation
policy, PagerDuty and a Slack app's message; nobody acknowledges, so the
second step is paged after its delay; then someone acknowledges, from
PagerDuty (its signed v3 webhook) or from the Slack message's button (a
signed click), through the incidents service; the third step is never
paged, and the Slack message shows who acknowledged. Someone resolves it,
PagerDuty and Slack hear it, and the review has the right times. A third
run kills notify with SIGKILL between the steps: no step is skipped or paged
twice. PagerDuty and Slack are local servers speaking their APIs.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from services.corral.embedded import free_port
from services.incidents.config import IncidentsConfig
from services.incidents.worker import IncidentsWorker
from services.ingest.config import IngestConfig
from services.ingest.worker import IngestWorker
from services.triage.config import TriageConfig
from services.triage.worker import TriageWorker
from shared.config import KafkaSettings
from shared.service import wait_ready as wait_listening
from tests.e2e.stack import alertmanager
from tests.helpers import running, wait_ready
from tests.integration.notify_fakes import PagerDutyFake, SlackFake, SlackMessage
from tests.integration.test_incidents_inbound import (
    PAGERDUTY_SECRET,
    SLACK_SECRET,
    pagerduty_event,
    pagerduty_signature,
    slack_click,
    slack_headers,
)
from tests.monitoring import MonitoringTools

pytestmark = pytest.mark.broker

STEP = 5.0  # seconds between escalation steps


def notify_config(
    kafka: KafkaSettings, port: int, pagerduty: PagerDutyFake, slack: SlackFake
) -> dict[str, Any]:
    def pager(key: str) -> dict[str, Any]:
        return {"routing_key": key, "url": pagerduty.url()}

    return {
        "kafka": kafka.model_dump(mode="json"),
        "notify": {
            "listen": f"127.0.0.1:{port}",
            "group_id": f"notify-{kafka.topics.incidents}",
            "retry": {"initial_backoff": "50ms", "max_backoff": "200ms", "max_elapsed": "10s"},
            "escalation_policies": [
                {
                    "name": "database",
                    "steps": [
                        {"after": "0s", "receivers": ["primary"]},
                        {"after": f"{STEP}s", "receivers": ["secondary"]},
                        {"after": f"{2 * STEP}s", "receivers": ["manager"]},
                    ],
                }
            ],
            "route": {
                "receiver": "team",
                "routes": [{"matchers": ['severity="critical"'], "escalation": "database"}],
            },
            "receivers": [
                {"name": "team", "log_configs": [{}]},
                {
                    "name": "primary",
                    "pagerduty_configs": [pager("primary-key")],
                    "slack_configs": [
                        {"app_token": slack.token, "app_url": slack.api(), "channel": "#oncall"}
                    ],
                },
                {"name": "secondary", "pagerduty_configs": [pager("secondary-key")]},
                {"name": "manager", "pagerduty_configs": [pager("manager-key")]},
            ],
        },
    }


class Notify:
    """``corral notify`` as a process of its own, which the test may kill."""

    def __init__(self, config: Path, port: int):
        self.config = config
        self.port = port
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "services.corral.cli", "notify", "--config", str(self.config),
            stdin=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        await wait_listening(f"127.0.0.1:{self.port}", timeout=60)

    async def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        assert await self.process.wait() == -signal.SIGKILL

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            await asyncio.wait_for(self.process.wait(), 60)


class Corral:
    """Ingest, triage and the incidents service in-process, notify as a process."""

    def __init__(self, ingest_url: str, incidents_url: str, notify: Notify):
        self.ingest_url = ingest_url
        self.incidents_url = incidents_url
        self.notify = notify

    async def request(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        async with (
            aiohttp.ClientSession() as session,
            session.request(method, self.incidents_url + path, **kwargs) as response,
        ):
            return response.status, await response.json(content_type=None)

    async def post(self, path: str, body: bytes | None = None, **kwargs: Any) -> tuple[int, Any]:
        return await self.request("POST", path, data=body, **kwargs)

    async def get(self, path: str) -> Any:
        status, shown = await self.request("GET", path)
        assert status == 200, shown
        return shown

    async def step_recorded(self, incident_id: str, step: int, integrations: int) -> None:
        """Until the incidents service shows the step sent to ``integrations``
        integrations: notify reports an outcome just before its sent log records it.
        The incident may be paged before the incidents service has read it (both
        read the revisions on their own), so a 404 means "not yet"."""
        async with asyncio.timeout(30):
            while True:
                status, shown = await self.request("GET", f"/api/v1/incidents/{incident_id}")
                assert status in (200, 404), shown
                sent = [
                    e
                    for e in (shown["timeline"] if status == 200 else [])
                    if e["type"] == "escalation"
                    and e["escalation_step"] == step
                    and e["status"] == "sent"
                ]
                if len(sent) >= integrations:
                    break
                await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)


@contextlib.asynccontextmanager
async def corral(
    kafka: KafkaSettings, tmp_path: Path, pagerduty: PagerDutyFake, slack: SlackFake
) -> AsyncIterator[Corral]:
    common = {"kafka": kafka.model_dump()}
    suffix = kafka.topics.incidents
    ingest = IngestWorker(IngestConfig.model_validate({**common}))
    triage = TriageWorker(
        TriageConfig.model_validate(
            {
                **common,
                "triage": {"group_id": f"triage-{suffix}", "lifecycle": {"quiet_period": "1s"}},
            }
        )
    )
    (tmp_path / "slack-secret").write_text(SLACK_SECRET)
    incidents = IncidentsWorker(
        IncidentsConfig.model_validate(
            {
                **common,
                "incidents": {
                    "data_dir": str(tmp_path / "store"),
                    "action_wait": "10s",
                    "pagerduty": {"webhook_secret": PAGERDUTY_SECRET},
                    "slack": {
                        "signing_secret_file": str(tmp_path / "slack-secret"),
                        "response_url_prefix": slack.url("/"),
                    },
                },
            }
        )
    )
    port = free_port()
    config = tmp_path / "notify.yml"
    config.write_text(yaml.safe_dump(notify_config(kafka, port, pagerduty, slack)))
    notify = Notify(config, port)
    async with (
        running(ingest, ingest.app()) as ingest_port,
        running(triage),
        running(incidents, incidents.app()) as incidents_port,
    ):
        await wait_ready(triage)
        await wait_ready(incidents)
        await notify.start()
        try:
            yield Corral(
                f"http://127.0.0.1:{ingest_port}", f"http://127.0.0.1:{incidents_port}", notify
            )
        finally:
            await notify.stop()


async def fire(am_url: str) -> None:
    """An alert, as Prometheus hands it to Alertmanager."""
    alert = {
        "labels": {
            "alertname": "PostgresqlDown",
            "severity": "critical",
            "cluster": "e2e-eu-1",
            "service": "orders-db",
            "team": "data",
        },
        "annotations": {"summary": "orders-db is down"},
        "startsAt": datetime.now(UTC).isoformat(),
        "generatorURL": "http://prometheus:9090/graph?g0.expr=pg_up",
    }
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{am_url}/api/v2/alerts", json=[alert]) as response,
    ):
        assert response.status == 200, await response.text()


async def page(pagerduty: PagerDutyFake, timeout: float = 60.0) -> dict[str, Any]:
    event: dict[str, Any] = (await pagerduty.next(timeout)).json()
    return event


@pytest.mark.parametrize("acknowledged_from", ["pagerduty", "slack", "pagerduty after sigkill"])
async def test_escalation_until_acknowledged_then_resolved_and_reviewed(
    acknowledged_from: str,
    kafka: KafkaSettings,
    monitoring_tools: MonitoringTools,
    tmp_path: Path,
) -> None:
    pagerduty, slack = await PagerDutyFake().start(), await SlackFake().start()
    try:
        async with contextlib.AsyncExitStack() as stack:
            system = await stack.enter_async_context(corral(kafka, tmp_path, pagerduty, slack))
            am = await stack.enter_async_context(
                alertmanager(
                    monitoring_tools,
                    tmp_path,
                    f"{system.ingest_url}/api/v1/alerts/alertmanager",
                )
            )
            fired = time.monotonic()
            await fire(am.url)
            first = await page(pagerduty)
            to_page = time.monotonic() - fired
            incident_id = first["dedup_key"]
            assert (first["routing_key"], first["event_action"]) == ("primary-key", "trigger")
            message = await slack.until(lambda m: m.status.endswith("firing"))
            assert message.buttons == ["Acknowledge", "Resolve", "Open"]
            [button] = [
                element
                for block in message.blocks
                if block["type"] == "actions"
                for element in block["elements"]
                if element.get("action_id") == "corral_acknowledge"
            ]
            assert button["value"] == incident_id
            if acknowledged_from.endswith("sigkill"):
                # Between step 1 (recorded) and step 2 (due in a few seconds).
                await system.step_recorded(incident_id, 1, 2)
                await system.notify.kill()
                await system.notify.start()

            # Nobody acknowledged: the second step, after its delay, once.
            second = await page(pagerduty, timeout=STEP + 30)
            assert (second["routing_key"], second["event_action"]) == ("secondary-key", "trigger")
            assert time.monotonic() - fired >= STEP

            acknowledging = time.monotonic()
            acked_at = datetime.now(UTC)
            if acknowledged_from == "slack":
                clicked = slack_click(button["action_id"], button["value"], slack.url("/actions/1"))
                status, _ = await system.post(
                    "/api/v1/integrations/slack/interactivity",
                    clicked,
                    headers=slack_headers(clicked),
                )
                who = "amy"
            else:
                body = pagerduty_event("incident.acknowledged", incident_id)
                status, _ = await system.post(
                    "/api/v1/integrations/pagerduty",
                    body,
                    headers={
                        "Content-Type": "application/json",
                        "X-PagerDuty-Signature": pagerduty_signature(body, PAGERDUTY_SECRET),
                    },
                )
                who = "Tenex Engineer"
            assert status == 200
            shown: SlackMessage = await slack.until(
                lambda m: m.status.endswith(f"acknowledged by {who}")
            )
            stopped = time.monotonic() - acknowledging
            assert shown.ts == message.ts and shown.buttons == ["Resolve", "Open"]
            # Both PagerDuty pages are acknowledged (the one PagerDuty told Corral
            # of, again: PagerDuty ignores that).
            told = [await page(pagerduty, 10) for _ in range(2)]
            assert {(e["routing_key"], e["event_action"]) for e in told} == {
                ("primary-key", "acknowledge"),
                ("secondary-key", "acknowledge"),
            }
            # The third step is never paged, long past its time.
            assert await pagerduty.nothing_within(2 * STEP)

            resolved_at = datetime.now(UTC)
            status, _ = await system.post(
                f"/api/v1/incidents/{incident_id}/resolve",
                b'{"actor": "bob", "comment": "failed over"}',
                headers={"Content-Type": "application/json"},
            )
            assert status in (200, 202)
            resolves = [await page(pagerduty, 20) for _ in range(2)]
            assert {(e["routing_key"], e["event_action"]) for e in resolves} == {
                ("primary-key", "resolve"),
                ("secondary-key", "resolve"),
            }
            await slack.until(lambda m: m.status.endswith("resolved by bob"))
            review = await system.get(f"/api/v1/incidents/{incident_id}/review")
    finally:
        await pagerduty.stop()
        await slack.stop()

    triggers = [
        e["routing_key"]
        for e in (r.json() for r in pagerduty.requests)
        if e["event_action"] == "trigger"
    ]
    assert triggers == ["primary-key", "secondary-key"]  # each step once, none skipped
    assert pagerduty.pages == 1  # one PagerDuty incident (dedup_key), however many steps
    assert len(slack.messages) == 1
    assert (review["acknowledged_by"], review["resolved_by"]) == (who, "bob")
    acknowledged = datetime.fromisoformat(review["acknowledged_at"])
    assert 0 <= (acknowledged - acked_at).total_seconds() < 10
    opened = datetime.fromisoformat(review["opened_at"])
    assert review["time_to_acknowledge_seconds"] == pytest.approx(
        (acknowledged - opened).total_seconds(), abs=0.01
    )
    resolved = datetime.fromisoformat(review["resolved_at"])
    assert 0 <= (resolved - resolved_at).total_seconds() < 10
    assert review["time_to_resolve_seconds"] == pytest.approx(
        (resolved - opened).total_seconds(), abs=0.01
    )
    assert opened <= acknowledged <= resolved
    steps = {
        (e["escalation_step"], e["status"], e["receiver"])
        for e in review["timeline"]
        if e["type"] == "escalation"
    }
    assert {(1, "sent", "primary"), (2, "sent", "secondary"), (3, "cancelled", "manager")} <= steps
    assert not any(step == 3 and status == "sent" for step, status, _ in steps)
    print(
        f"\nescalation, acknowledged from {acknowledged_from}: alert to page {to_page:.2f} s "
        f"(Alertmanager's group_wait 1 s included); acknowledgement to escalation stopped "
        f"(Slack message updated) {stopped * 1000:.0f} ms"
    )
