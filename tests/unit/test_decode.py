"""A record a worker cannot read is counted and skipped, never a crash or a stuck partition."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from prometheus_client import CollectorRegistry, Counter

from shared.kafka.decode import decoded
from shared.messages import Alert, AlertStatus


def record(offset: int, value: bytes | None) -> Any:
    return SimpleNamespace(offset=offset, key=b"prod-1", value=value)


def test_unreadable_records_are_counted_and_skipped() -> None:
    good = Alert(
        fingerprint="f1",
        status=AlertStatus.FIRING,
        labels={"alertname": "Up"},
        source="alertmanager",
        received_at=datetime(2026, 11, 26, tzinfo=UTC),
    )
    newer = good.model_copy(update={"schema_version": 99}).to_bytes()
    registry = CollectorRegistry()
    invalid = Counter("invalid_records", "test", registry=registry)
    messages = [
        record(0, b"{not json"),
        record(1, good.to_bytes()),
        record(2, newer),
        record(3, None),
        record(4, good.to_bytes()),
    ]

    read = list(decoded(Alert, 0, messages, invalid))

    assert [(message.offset, alert) for message, alert in read] == [(1, good), (4, good)]
    assert registry.get_sample_value("invalid_records_total") == 3
