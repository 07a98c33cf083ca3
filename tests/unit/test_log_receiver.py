"""The default receiver writes each incident as one structured log event."""

from datetime import UTC, datetime

from structlog.testing import capture_logs

from services.notify.receivers.base import Delivery
from services.notify.receivers.log import LogIntegration
from shared.messages import Incident


async def test_incident_is_logged_with_its_fields() -> None:
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
    with capture_logs() as logs:
        await LogIntegration("log/0").notify(Delivery(incident, "default", "abc-2"))
    [line] = logs
    assert line["event"] == "incident"
    assert (line["id"], line["revision"], line["change"]) == ("abc", 2, "updated")
    assert line["receiver"] == "default" and line["title"] == "TargetDown: 3 targets down"
