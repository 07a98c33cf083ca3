"""Message models: JSON round trip and schema versions."""

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from shared.messages import (
    Alert,
    AlertStatus,
    Incident,
    IncidentAlert,
    IncidentEvent,
    IncidentStatus,
    Message,
    SentNotification,
)
from shared.messages.triage_state import AlertRecord, IncidentRecord

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def alert(**overrides: object) -> Alert:
    fields = {
        "fingerprint": "0123456789abcdef",
        "status": "firing",
        "labels": {"alertname": "TargetDown"},
        "source": "prometheus",
        "received_at": NOW,
        **overrides,
    }
    return Alert.model_validate(fields)


def test_round_trip_writes_the_current_version() -> None:
    data = alert().to_bytes()
    assert b'"schema_version":1' in data
    again = Alert.from_bytes(data)
    assert again == alert()
    assert again.status is AlertStatus.FIRING


def every_message_type() -> list[type[Message]]:
    found, todo = [], [Message]
    while todo:
        for sub in todo.pop().__subclasses__():
            found.append(sub)
            todo.append(sub)
    return found


@pytest.mark.parametrize("model", every_message_type(), ids=lambda m: m.__name__)
def test_every_message_type_writes_the_version_it_declares(model: type[Message]) -> None:
    field = model.model_fields["schema_version"]
    assert field.default == model.SCHEMA_VERSION
    assert [m.le for m in field.metadata if hasattr(m, "le")] == [model.SCHEMA_VERSION]


def test_a_newer_schema_version_is_refused_with_a_reason() -> None:
    with pytest.raises(ValidationError, match="newer than this worker understands"):
        Alert.from_bytes(alert().to_bytes().replace(b'"schema_version":1', b'"schema_version":2'))


def test_a_record_without_version_reads_as_version_one() -> None:
    data = alert().to_bytes().replace(b'"schema_version":1,', b"")
    assert Alert.from_bytes(data).schema_version == 1


def incident(alerts: list[IncidentAlert]) -> Incident:
    return Incident(
        id="inc-1",
        revision=2,
        event=IncidentEvent.UPDATED,
        status=IncidentStatus.FIRING,
        correlation_key="cluster=prod",
        title="KubeNodeNotReady",
        alerts=alerts,
        severity="critical",
        priority="P1",
        opened_at=NOW,
        updated_at=NOW,
    )


def member(node: str, status: str = "firing") -> IncidentAlert:
    return IncidentAlert(
        fingerprint=f"fp-{node}",
        status=status,
        labels={"alertname": "KubeNodeNotReady", "node": node},
        starts_at=NOW,
    )


def test_listed_alerts_are_written_as_they_are_now() -> None:
    """Member encodings are reused between revisions; a changed member is a
    new object and must never be written as its former self."""
    first = incident([member("w1"), member("w2")])
    assert Incident.from_bytes(first.to_bytes()) == first
    second = incident([first.alerts[0], member("w2", status="resolved"), member("w3")])
    assert Incident.from_bytes(second.to_bytes()) == second
    record = IncidentRecord(
        id="inc-1",
        correlation_key="cluster=prod",
        status=IncidentStatus.FIRING,
        revision=2,
        opened_at=NOW,
        updated_at=NOW,
        members=second.alerts,
    )
    assert IncidentRecord.from_bytes(record.to_bytes()) == record
    for _ in range(3):  # ids of dropped members get reused by new ones
        fresh = incident([member(f"w{n}", status="resolved") for n in range(4)])
        assert Incident.from_bytes(fresh.to_bytes()) == fresh


def test_sent_notification_with_its_incident_round_trips_after_each_change() -> None:
    admitted = SentNotification(
        incident_id="inc-1", receiver="oncall", integration="webhook/0", incident=incident([])
    )
    attempting = admitted.model_copy(update={"attempting": 2})
    sent = attempting.model_copy(update={"attempting": 0, "revision": 2, "status": "firing"})
    for entry in (admitted, attempting, sent, admitted):
        assert SentNotification.from_bytes(entry.to_bytes()) == entry
    assert b'"schema_version":2' in sent.to_bytes()


@pytest.mark.parametrize(
    "fields",
    [
        {"status": AlertStatus.FIRING, "incident": None, "changes": [], "flapping": False},
        {
            "status": AlertStatus.FIRING,
            "incident": "inc-1",
            "changes": [],
            "flapping": False,
            "ends_at": 1795960375000,
        },
        {
            "status": AlertStatus.RESOLVED,
            "incident": 'inc-"7"\u2026',
            "changes": [1795960313000, 1795960314000],
            "flapping": True,
        },
    ],
)
def test_alert_record_written_without_the_model_is_what_the_model_writes(fields: dict) -> None:
    model = AlertRecord(changed_at=1795960315000, **fields)
    data = AlertRecord.encode(changed_at=1795960315000, **fields)
    assert data == model.to_bytes()
    assert AlertRecord.from_bytes(data) == model
