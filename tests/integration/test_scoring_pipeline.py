"""Scoring end to end: a triaged incident carries priority, severity, score and explanation,
and the verdicts of the people on call come back as training rows."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
from pathlib import Path

import aiohttp
import pytest
import yaml

from services.triage.scoring import store
from services.triage.training.feedback import read_from_kafka
from shared.config import KafkaSettings
from shared.messages import Feedback
from tests.alertmanager import am_alert, webhook
from tests.helpers import RecordingServer, read_topic
from tests.history import corral
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
        # Bob, on call, says it should have paged: the latest verdict on an incident counts.
        code, out, _ = await corral_cli(
            "incident",
            "verdict",
            incident["id"],
            "page-sooner",
            "--author",
            "bob",
            "--url",
            p.ingest_url,
        )
        assert code == 0 and "stored" in out

    stored = [Feedback.from_bytes(v) for v in await read_topic(kafka, kafka.topics.feedback)]
    assert [(f.incident_id, f.verdict, f.priority, f.author, f.source) for f in stored] == [
        (incident["id"], "priority", "P4", "alice", None),
        (incident["id"], "page_sooner", None, "bob", "cli"),
    ]
    rows = await read_from_kafka(kafka, weight=2.0)
    assert (rows.verdicts, rows.unmatched) == (1, 0)
    [example] = rows.examples
    assert (example.alert.alertname, example.severity, example.weight) == (
        "PrimaryDatabaseDown",
        "critical",  # page-sooner: the team says this must page
        2.0,
    )
    assert example.alert.expr == "up == 0"  # from the alert's generator URL

    config = tmp_path / "corral.yml"
    config.write_text(yaml.safe_dump({"kafka": kafka.model_dump(mode="json", exclude_none=True)}))
    code, out, _ = await corral_cli("evaluate", "--feedback", "--json", "--config", str(config))
    dba = json.loads(out)["teams"]["dba"]
    assert code == 0
    assert (dba["right_pages"], dba["false_pages"], dba["missed_pages"]) == (1, 0, 0)
    assert (dba["precision"], dba["recall"]) == (1.0, 1.0)
    model = tmp_path / "team.skops"
    code, out, _ = await corral_cli(
        "train",
        "--with-catalogue",
        "--feedback",
        "--feedback-weight",
        "5",
        "--config",
        str(config),
        "--out",
        str(model),
    )
    assert code == 0 and "feedback: 1 verdicts, 1 alerts, 0 verdicts without" in out
    assert store.load(model).metadata["training_data"]["origins"]["feedback:page_sooner"] == 1
    await receiver.stop()


async def corral_cli(*argv: str) -> tuple[int, str, str]:
    """The ``corral`` command in a thread (it runs its own event loop), output captured."""

    def run() -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = corral(*argv)
        return code if isinstance(code, int) else 1 if code else 0, out.getvalue(), err.getvalue()

    return await asyncio.to_thread(run)
