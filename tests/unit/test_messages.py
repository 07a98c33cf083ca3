"""Message models: JSON round trip and schema versions."""

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from shared.messages import (
    Alert,
    AlertStatus,
    Message,
)

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
