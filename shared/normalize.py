"""Either request body ingest accepts, as the normalized alerts it writes to
``corral.alerts`` (ingest uses it live; ``shared.history`` reads captured webhooks).

Each alert becomes Corral's normalized ``Alert`` message, encoded. The JSON is
written straight from the fields the request model has already validated,
exactly as ``Alert(...).to_bytes()`` would write it (``shared.codec.alert``):
validating the same fields a second time into an ``Alert`` cost more than
parsing the request itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import NamedTuple

from shared import codec
from shared.fingerprint import fingerprint
from shared.messages import AlertStatus
from shared.payloads import PostableAlert, WebhookPayload

# Go's zero time: Alertmanager's way of writing "no end time" for firing alerts.
_ZERO_YEAR = 1

SOURCE_ALERTMANAGER = "alertmanager"
SOURCE_PROMETHEUS = "prometheus"


class NormalizedAlert(NamedTuple):
    """One ``Alert`` record: its labels (which decide its key) and its JSON.

    A tuple, not a frozen dataclass: built once per alert, where a frozen
    dataclass's ``__init__`` costs as much as encoding the labels."""

    labels: Mapping[str, str]
    data: bytes

    def to_bytes(self) -> bytes:
        return self.data


def _time(value: datetime | None) -> datetime | None:
    """Go's zero time means unset; a timestamp without a zone is taken as UTC."""
    if value is None or value.year == _ZERO_YEAR:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def from_webhook(payload: WebhookPayload, received_at: datetime) -> list[NormalizedAlert]:
    envelope = codec.alert_envelope(
        SOURCE_ALERTMANAGER,
        received_at,
        payload.group_key,
        payload.receiver,
        payload.external_url or None,
    )
    return [
        NormalizedAlert(
            alert.labels,
            codec.alert(
                envelope,
                alert.fingerprint or fingerprint(alert.labels),
                alert.status,
                alert.labels,
                alert.annotations,
                _time(alert.starts_at),
                _time(alert.ends_at),
                alert.generator_url,
            ),
        )
        for alert in payload.alerts
    ]


def from_api_v2(alerts: list[PostableAlert], received_at: datetime) -> list[NormalizedAlert]:
    """Prometheus marks a resolved alert by an ``endsAt`` in the past; firing
    alerts carry an ``endsAt`` a few evaluation intervals in the future."""
    envelope = codec.alert_envelope(SOURCE_PROMETHEUS, received_at)
    return [_from_postable(alert, envelope, received_at) for alert in alerts]


def _from_postable(alert: PostableAlert, envelope: bytes, received_at: datetime) -> NormalizedAlert:
    ends_at = _time(alert.ends_at)
    resolved = ends_at is not None and ends_at <= received_at
    status = AlertStatus.RESOLVED if resolved else AlertStatus.FIRING
    data = codec.alert(
        envelope,
        fingerprint(alert.labels),
        status,
        alert.labels,
        alert.annotations,
        _time(alert.starts_at),
        ends_at,
        alert.generator_url,
    )
    return NormalizedAlert(alert.labels, data)
