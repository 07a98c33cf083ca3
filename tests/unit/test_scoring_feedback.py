"""Verdicts of the people on call: the message, the CLI, paging figures, and learning from them."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from services.corral.cli import main as corral
from services.triage.scoring.features import AlertText
from services.triage.training import dataset
from services.triage.training.default_model import catalogue_files
from services.triage.training.feedback import examples_from, paging_by_team
from services.triage.training.train import train
from shared.messages import Feedback, Incident, IncidentAlert
from tests.helpers import RecordingServer

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
URL = "http://prometheus:9090/graph?g0.expr=backup_last_success_age_seconds+%3E+86400"


def incident(
    incident_id: str, priority: str, team: str = "", alertname: str = "NightlyBackupLate"
) -> Incident:
    labels = {"alertname": alertname, "job": "backup", "host": f"db-{incident_id}"}
    return Incident(
        id=incident_id,
        revision=1,
        event="opened",
        status="firing",
        correlation_key=incident_id,
        title=alertname,
        labels={"team": team} if team else {},
        alerts=[
            IncidentAlert(
                fingerprint=f"f{incident_id}",
                status="firing",
                labels=labels,
                annotations={"summary": "The nightly database backup has not completed"},
                generator_url=URL,
            )
        ],
        severity={"P1": "critical", "P2": "critical", "P3": "warning"}.get(priority, "info"),
        priority=priority,
        opened_at=NOW,
        updated_at=NOW,
    )


def verdict(incident_id: str, word: str, priority: str | None = None) -> Feedback:
    return Feedback(incident_id=incident_id, verdict=word, priority=priority, received_at=NOW)


def test_verdicts_change_a_later_prediction_of_the_same_kind_of_alert() -> None:
    catalogue = dataset.read(list(catalogue_files())).examples
    later = AlertText(
        "NightlyBackupLate",
        {"job": "backup", "host": "db-9"},
        {"summary": "The nightly database backup has not completed"},
        "backup_last_success_age_seconds > 86400",
    )
    before = train(catalogue, cross_validate=False).predict([later])[0]
    assert before.severity != "critical"

    incidents = {str(n): incident(str(n), "P4", team="dba") for n in range(3)}
    verdicts = {n: verdict(n, "page_sooner") for n in incidents}
    rows = examples_from(verdicts, incidents, weight=3.0)
    assert {(e.severity, e.weight, e.origin) for e in rows.examples} == {
        ("critical", 3.0, "feedback:page_sooner")
    }
    after = train([*catalogue, *rows.examples], cross_validate=False).predict([later])[0]
    assert after.severity == "critical"
    assert after.probabilities["critical"] > before.probabilities["critical"]


def test_paging_precision_and_recall_per_team() -> None:
    incidents = {
        "a": incident("a", "P1", "dba"),  # paged, right
        "b": incident("b", "P2", "dba"),  # paged, noise
        "c": incident("c", "P4", "dba"),  # quiet, should have paged
        "d": incident("d", "P3", "dba"),  # quiet, right
        "e": incident("e", "P3", "web"),  # quiet, verdict says P2: should have paged
    }
    verdicts = {
        "a": verdict("a", "right"),
        "b": verdict("b", "noise"),
        "c": verdict("c", "page_sooner"),
        "d": verdict("d", "right"),
        "e": verdict("e", "priority", "P2"),
        "gone": verdict("gone", "right"),  # its incident left the topic
    }
    teams, unmatched = paging_by_team(verdicts, incidents)
    assert unmatched == 1
    dba = teams["dba"]
    assert (dba.right_pages, dba.false_pages, dba.missed_pages, dba.right_quiet) == (1, 1, 1, 1)
    assert (dba.precision, dba.recall) == (0.5, 0.5)
    assert (teams["web"].precision, teams["web"].recall) == (None, 0.0)


def test_feedback_schema_two_reads_version_one_and_refuses_newer() -> None:
    current = verdict("i1", "page_sooner")
    assert Feedback.from_bytes(current.to_bytes()) == current
    assert json.loads(current.to_bytes())["schema_version"] == 2
    old = (
        b'{"schema_version":1,"incident_id":"i1","verdict":"noise",'
        b'"received_at":"2026-11-26T12:00:00Z"}'
    )
    assert Feedback.from_bytes(old).verdict == "noise"
    with pytest.raises(ValidationError, match="newer than this worker understands"):
        Feedback.from_bytes(old.replace(b'"schema_version":1', b'"schema_version":3'))
    with pytest.raises(ValidationError, match="source"):
        Feedback(incident_id="i", verdict="right", received_at=NOW, source="Slack Button!")


async def test_incident_verdict_command_posts_to_the_feedback_api(
    capsys: pytest.CaptureFixture[str],
) -> None:
    server = await RecordingServer(responses=[(202, {}), (422, {})]).start()

    def run(*argv: str) -> int | str:
        try:
            corral(list(argv))
        except SystemExit as exited:
            return exited.code if isinstance(exited.code, str) else int(exited.code or 0)
        return 0

    base = server.url("")
    code = await asyncio.to_thread(
        run, "incident", "verdict", "inc-1", "page-sooner", "--url", base, "--author", "alice"
    )
    assert code == 0 and "verdict page-sooner on incident inc-1 stored" in capsys.readouterr().out
    request = await server.next()
    assert request.path == "/api/v1/incidents/inc-1/feedback"
    assert json.loads(request.body) == {
        "verdict": "page_sooner",
        "source": "cli",
        "author": "alice",
    }
    code = await asyncio.to_thread(run, "incident", "verdict", "inc-1", "P2", "--url", base)
    assert code == 1 and "422" in capsys.readouterr().err
    assert json.loads((await server.next()).body)["priority"] == "P2"
    await server.stop()
    code = await asyncio.to_thread(run, "incident", "verdict", "inc-1", "noise", "--url", base)
    assert isinstance(code, str) and code.startswith(f"error: cannot reach {base}/api/v1/")
