"""The default receiver writes each incident as one JSON log line."""

import json
from datetime import UTC, datetime

import pytest

from services.notify.receivers.log import LogIntegration
from shared.logging import configure_logging
from shared.messages import Incident


async def test_incident_is_logged_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("info", "notify")
    now = datetime.now(UTC)
    incident = Incident(
        id="abc",
        revision=2,
        event="updated",
        status="firing",
        correlation_key="k",
        title="TargetDown: 3 targets down",
        alerts=[],
        severity="warning",
        priority="P3",
        explanation=["grouped by job"],
        opened_at=now,
        updated_at=now,
    )
    await LogIntegration("log/0").notify(incident, "default")
    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert line["event"] == "incident"
    assert (line["id"], line["revision"], line["change"]) == ("abc", 2, "updated")
    assert line["receiver"] == "default" and line["title"] == "TargetDown: 3 targets down"
