"""Scoring end to end: a triaged incident carries priority, severity, score and explanation,
and the verdicts of the people on call come back as training rows."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from services.triage.training.feedback import read_from_kafka
from shared.config import KafkaSettings
from shared.messages import Feedback
from tests.alertmanager import am_alert, webhook
from tests.helpers import RecordingServer, read_topic
from tests.integration.pipeline import pipeline, webhook_route

pytestmark = pytest.mark.broker

DB_DOWN = {"alertname": "PrimaryDatabaseDown", "cluster": "prod-eu-1", "service": "orders-db"}
DB_DOWN_TEXT = {"summary": "The primary database of orders is down", "description": "pg_up is 0"}


async def post(url: str, body: object) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as session, session.post(url, json=body) as response:
        return response.status, await response.json()


async def test_incident_is_scored_and_feedback_becomes_training_data(
    kafka: KafkaSettings, tmp_path: Path
) -> None:
    receiver = await RecordingServer().start()
    triage = {
        "scoring": {
            "model_cache_dir": str(tmp_path),
            "rules": [
                {"name": "databases", "matchers": ['service=~".*-db"'], "team": "dba"},
            ],
        }
    }
    async with pipeline(kafka, webhook_route(receiver.url()), triage=triage) as p:
        # No severity label: the default model, built on first use, decides.
        status, _ = await post(
            f"{p.ingest_url}/api/v1/alerts/alertmanager", webhook([am_alert(DB_DOWN, DB_DOWN_TEXT)])
        )
        assert status == 200
        incident = (await receiver.next(timeout=60)).json()
        assert incident["severity"] == "critical"
        assert incident["priority"] in ("P1", "P2")
        assert 60 <= incident["score"] <= 100
        assert incident["labels"]["team"] == "dba"
        explanation = incident["explanation"]
        assert any(
            line.startswith("severity critical: classifier on PrimaryDatabaseDown")
            for line in explanation
        )
        assert any(line.startswith(f"score {incident['score']} = base") for line in explanation)
        assert f"priority {incident['priority']} from the score" in explanation
        assert "team dba: rule 'databases'" in explanation

        endpoint = f"{p.ingest_url}/api/v1/incidents/{incident['id']}/feedback"
        status, body = await post(endpoint, {"verdict": "priority", "priority": "P9"})
        assert (status, body["field"]) == (422, "priority")
        status, body = await post(endpoint, {"verdict": "priority"})
        assert (status, body["field"]) == (422, "priority")
        status, body = await post(endpoint, {"verdit": "noise"})
        assert status == 422 and {e["field"] for e in body["errors"]} == {"verdict", "verdit"}
        status, body = await post(
            endpoint, {"verdict": "priority", "priority": "P4", "author": "alice"}
        )
        assert (status, body["status"]) == (202, "accepted")

    [stored] = [Feedback.from_bytes(v) for v in await read_topic(kafka, kafka.topics.feedback)]
    assert (stored.incident_id, stored.verdict, stored.priority, stored.author) == (
        incident["id"],
        "priority",
        "P4",
        "alice",
    )
    rows = await read_from_kafka(kafka, weight=2.0)
    assert (rows.verdicts, rows.unmatched) == (1, 0)
    [example] = rows.examples
    assert (example.alert.alertname, example.severity, example.weight) == (
        "PrimaryDatabaseDown",
        "info",  # P4: the team says this is not urgent
        2.0,
    )
    assert example.alert.expr == "up == 0"  # from the alert's generator URL
    await receiver.stop()
