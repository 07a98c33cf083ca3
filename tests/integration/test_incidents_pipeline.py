"""From an Alertmanager webhook to an acknowledged, resolved and reviewed incident:
ingest, triage, notify and incidents together on the real broker."""

from __future__ import annotations

import time
from pathlib import Path

import aiohttp
import pytest

from services.incidents.worker import IncidentsWorker
from shared.config import KafkaSettings
from tests.alertmanager import NODE_DOWN, NODE_DOWN_TEXT, am_alert, webhook
from tests.helpers import RecordingServer, running, wait_ready
from tests.incidents import eventually, incidents_config
from tests.integration.pipeline import pipeline, webhook_route

pytestmark = pytest.mark.broker

POD_DOWN = {
    **NODE_DOWN,
    "alertname": "KubePodNotReady",
    "pod": "checkout-7d9f",
    "severity": "warning",
}


async def test_a_webhook_becomes_an_incident_people_respond_to(
    kafka: KafkaSettings, tmp_path: Path
) -> None:
    receiver = await RecordingServer().start()
    worker = IncidentsWorker(incidents_config(kafka, "sqlite", str(tmp_path), action_wait="15s"))
    try:
        async with (
            pipeline(kafka, webhook_route(receiver.url())) as stack,
            running(worker, worker.app()) as port,
            aiohttp.ClientSession() as session,
        ):
            await wait_ready(worker)
            api = f"http://127.0.0.1:{port}/api/v1/incidents"

            async def incidents() -> list[dict[str, object]] | None:
                async with session.get(f"{api}?status=open") as response:
                    return (await response.json())["incidents"] or None

            started = time.perf_counter()
            alerts = [am_alert(NODE_DOWN, NODE_DOWN_TEXT), am_alert(POD_DOWN)]
            async with session.post(
                f"{stack.ingest_url}/api/v1/alerts/alertmanager", json=webhook(alerts)
            ) as response:
                assert response.status == 200
            [listed] = await eventually(incidents)
            elapsed = (time.perf_counter() - started) * 1000
            print(f"webhook to the incident in the store: {elapsed:.0f} ms")
            page = await receiver.next()
            assert page.json()["id"] == listed["id"]

            incident_url = f"{api}/{listed['id']}"
            async with session.post(
                f"{incident_url}/ack", json={"actor": "alice", "comment": "on it"}
            ) as response:
                assert response.status == 200
                assert (await response.json())["incident"]["state"] == "acknowledged"
            async with session.post(
                f"{incident_url}/resolve", json={"actor": "alice", "comment": "node replaced"}
            ) as response:
                assert response.status == 200
            async with session.get(incident_url) as response:
                shown = await response.json()
            assert shown["members"] and {m["labels"]["alertname"] for m in shown["members"]} == {
                "KubeNodeNotReady",
                "KubePodNotReady",
            }
            types = {entry["type"] for entry in shown["timeline"]}
            assert {"revision", "alert", "decision", "action"} <= types
            decisions = [e["text"] for e in shown["timeline"] if e["type"] == "decision"]
            assert any(line.startswith("opened by KubeNodeNotReady") for line in decisions)
            async with session.get(f"{incident_url}/review?format=markdown") as response:
                review = await response.text()
            assert "Acknowledged by alice after" in review
            assert "Resolved by alice after" in review
    finally:
        await receiver.stop()
